"""Plain text from a man page: groff renders it (tbl for tables, the man
macros, UTF-8 in and out, no hyphenation, lines 2000 ens long so that a
paragraph comes out on one line), and the rendering is cut into paragraphs
at blank lines.

groff, not a hand-written roff stripper: man pages use escapes, strings,
conditionals and macro definitions that only a roff interpreter resolves
(Debian 12 ships groff-base 1.22.4, which man itself uses).

The page's running header and footer are dropped, and so are the sections
that credit translators or say where the page comes from: they repeat,
nearly word for word, on thousands of pages.
"""

import re
import shutil
import subprocess

GROFF = ["groff", "-K", "utf8", "-t", "-man", "-Tutf8", "-P-cbou", "-rLL=2000n", "-rHY=0"]

# Section headings whose sections are boilerplate, in the languages we read.
_CREDIT_SECTIONS = frozenset([
    "COLOPHON", "TRANSLATION", "TRANSLATIONS", "TRADUCTION", "TRADUCCIÓN", "TRADUÇÃO",
    "ÜBERSETZUNG", "BẢN DỊCH", "TRADUZIONE",
])


_BOX_DRAWING = re.compile("[\u2500-\u257f]+")


def groff_available():
    return shutil.which("groff") is not None


def _is_section_heading(raw_line):
    # man renders .SH flush left and everything else indented.
    return bool(raw_line) and not raw_line[0].isspace()


def roff_paragraphs(source):
    """The paragraphs of a man page given as roff source text; [] for a
    page that only points at another (.so) or that groff cannot render."""
    if source.lstrip().startswith(".so "):
        return []
    done = subprocess.run(GROFF, input=source.encode("utf-8"), stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        return []
    lines = done.stdout.decode("utf-8", errors="replace").split("\n")
    # The first non-blank line is the running header (NAME(1) ... NAME(1)),
    # the last the footer (source, date, NAME(1)).
    content = [i for i, line in enumerate(lines) if line.strip()]
    if len(content) < 3:
        return []
    lines = lines[content[0] + 1:content[-1]]

    paragraphs, block, skipping = [], [], False

    def flush():
        if block and not skipping:
            paragraphs.append("\n".join(block))
        block.clear()

    for raw in lines:
        # tbl draws boxes with line-drawing characters: the cells' words stay.
        text = " ".join(_BOX_DRAWING.sub(" ", raw).split())
        if not text:
            flush()
            continue
        if _is_section_heading(raw):
            flush()
            skipping = text.upper() in _CREDIT_SECTIONS
        block.append(text)
        if _is_section_heading(raw):
            flush()
    flush()
    return paragraphs
