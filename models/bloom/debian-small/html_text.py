"""Plain text from the HTML manuals that Debian ships (DocBook and Sphinx
output): the page's body as a list of paragraphs.

Navigation (DocBook's navheader/navfooter and tables of contents, Sphinx's
related bars, sidebars and header links) repeats on every page and would
teach the model menus, so it is dropped. Block elements end a paragraph;
inside <pre> the line breaks are kept (code and command lines), elsewhere
every run of whitespace becomes one space.
"""

from html.parser import HTMLParser

# Elements whose end (and start) closes the current paragraph.
_BLOCK_TAGS = frozenset("""
    address article aside blockquote body caption dd div dl dt figcaption figure
    footer h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tbody
    td th thead title tr ul br
""".split())

# HTML void elements: they have no end tag, so they never open a nesting level.
_VOID_TAGS = frozenset("area base br col embed hr img input link meta param source track wbr".split())

# Elements skipped with everything inside them.
_SKIP_TAGS = frozenset(["script", "style", "head", "noscript", "svg", "math"])
_SKIP_CLASSES = frozenset([
    "navheader", "navfooter", "toc", "list-of-tables", "list-of-figures", "list-of-examples",
    "related", "sphinxsidebar", "footer", "headerlink", "breadcrumbs",
])


def _normalise_inline(text):
    return " ".join(text.split())


def _normalise_pre(text):
    lines = [line.expandtabs(8).rstrip() for line in text.replace("\xa0", " ").split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


class _Extractor(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.paragraphs = []
        self._parts = []
        self._skip_depth = 0  # > 0 while inside a skipped element
        self._pre_depth = 0

    def _flush(self):
        text = "".join(self._parts)
        self._parts = []
        text = _normalise_pre(text) if self._pre_depth else _normalise_inline(text)
        if text:
            self.paragraphs.append(text)

    def handle_starttag(self, tag, attrs):
        if self._skip_depth:
            if tag not in _VOID_TAGS:
                self._skip_depth += 1
            return
        classes = set()
        for name, value in attrs:
            if name == "class" and value:
                classes.update(value.split())
        if tag in _SKIP_TAGS or classes & _SKIP_CLASSES:
            if tag not in _VOID_TAGS:
                self._skip_depth = 1
            return
        if tag in _BLOCK_TAGS:
            self._flush()
        if tag == "pre":
            self._pre_depth += 1
        elif tag in ("td", "th"):
            self._parts.append(" ")

    def handle_startendtag(self, tag, attrs):
        if not self._skip_depth and tag in _BLOCK_TAGS:
            self._flush()

    def handle_endtag(self, tag):
        if self._skip_depth:
            if tag not in _VOID_TAGS:
                self._skip_depth -= 1
            return
        if tag in _BLOCK_TAGS:
            self._flush()
        if tag == "pre" and self._pre_depth:
            self._pre_depth -= 1

    def handle_data(self, data):
        if not self._skip_depth:
            self._parts.append(data)


def html_paragraphs(markup):
    """The paragraphs of an HTML page's visible body text, in order."""
    parser = _Extractor()
    parser.feed(markup)
    parser.close()
    parser._flush()
    return parser.paragraphs
