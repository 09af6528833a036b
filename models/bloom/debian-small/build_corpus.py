#!/usr/bin/env python3
"""Builds debian-small's corpus from Debian 12 documentation packages.

Downloads the pinned packages of debian_packages.py (apt-get download,
checked against their SHA-256), unpacks them (dpkg-deb -x), turns each
HTML page and man page into plain paragraphs, holds out whole documents
as the evaluation text, removes from training every paragraph or line
that the evaluation text contains, drops repeated paragraphs, and writes:

- <out>/train.jsonl.xz: one JSON object per document, {"id", "lang", "text"};
- <out>/manifest.json and models/bloom/debian-small/corpus_manifest.json:
  packages, licenses, per-language sizes, what was dropped, checksums;
- models/bloom/debian-small/eval.txt: the held-out text.

Standard library only, plus apt-get, dpkg-deb and groff (groff-base) on
the PATH. Deterministic: the same packages give the same bytes.

    python3 models/bloom/debian-small/build_corpus.py            # from the repo root
"""

import argparse
import gzip
import hashlib
import io
import itertools
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from debian_packages import LANGUAGES, PACKAGES  # noqa: E402
from html_text import html_paragraphs  # noqa: E402
from roff_text import groff_available, roff_paragraphs  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))

MIN_DOC_CHARS = 200          # shorter documents (stubs, redirects) are dropped
DEDUPE_MIN_CHARS = 32        # paragraphs and lines this long are deduplicated
EVAL_DOC_CHARS = (1500, 9000)  # an evaluation document's size in characters
EVAL_CHARS = {"en": 9000, "fr": 9000, "es": 9000, "pt": 9000, "zh": 4000, "vi": 8000}
EVAL_DOCS_PER_PACKAGE = 2    # per language: keeps the evaluation text varied
MAX_TRAIN_XZ_BYTES = 40 * 1024 * 1024


def fail(message):
    sys.exit(f"build_corpus: {message}")


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stable_rank(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------
# Packages


def download(package, deb_dir):
    """The .deb of `package` in deb_dir, downloaded unless already there."""
    existing = [f for f in os.listdir(deb_dir) if f.startswith(package.name + "_")
                and f.endswith(".deb")]
    for name in existing:
        path = os.path.join(deb_dir, name)
        if sha256_file(path) == package.sha256:
            return path
        os.remove(path)
    done = subprocess.run(["apt-get", "download", f"{package.name}={package.version}"],
                          cwd=deb_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=False)
    if done.returncode != 0:
        last = done.stdout.strip().splitlines()[-1:] or ["(no output)"]
        fail(f"apt-get download {package.name}={package.version} failed: {last[0]} "
             "(run apt-get update first; is this Debian 12?)")
    found = [f for f in os.listdir(deb_dir) if f.startswith(package.name + "_")
             and f.endswith(".deb")]
    if len(found) != 1:
        fail(f"apt-get download {package.name}: expected one .deb in {deb_dir}, found {found}")
    path = os.path.join(deb_dir, found[0])
    actual = sha256_file(path)
    if actual != package.sha256:
        fail(f"{path}: SHA-256 {actual} is not the pinned {package.sha256}")
    return path


def unpack(deb, root):
    os.makedirs(root, exist_ok=True)
    done = subprocess.run(["dpkg-deb", "-x", deb, root], stderr=subprocess.PIPE, text=True,
                          check=False)
    if done.returncode != 0:
        fail(f"dpkg-deb -x {deb}: {done.stderr.strip()}")


def licenses(root, package):
    """The License: names of the package's DEP-5 copyright file, in order."""
    doc_dir = os.path.join(root, "usr/share/doc", package.name)
    if os.path.islink(doc_dir):  # e.g. manpages-dev -> manpages
        return [f"as {os.path.basename(os.readlink(doc_dir))}"]
    path = os.path.join(doc_dir, "copyright")
    if not os.path.exists(path):
        return ["(no copyright file)"]
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    names = []
    for match in re.finditer(r"^License:[ \t]*(\S[^\n]*)$", text, re.MULTILINE):
        name = match.group(1).strip()
        if name not in names:
            names.append(name)
    return names or ["(not machine-readable: see the copyright file)"]


# ---------------------------------------------------------------------------
# Text


def read_text(path):
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8")  # UnicodeDecodeError: the caller skips the file


def extract(job):
    """(doc id, language, paragraphs or None when unreadable) of one file."""
    doc_id, lang, path = job
    try:
        text = read_text(path)
    except (UnicodeDecodeError, OSError, EOFError, gzip.BadGzipFile):
        return doc_id, lang, None
    paragraphs = roff_paragraphs(text) if path.endswith(".gz") else html_paragraphs(text)
    return doc_id, lang, paragraphs


def english_ratio(text):
    """The share of a text's words that are very common English words: a
    translated page that was left in English scores high."""
    words = re.findall(r"[a-z]+", text.lower())
    if not words:
        return 0.0
    common = {"the", "and", "of", "to", "is", "in", "that", "for", "with", "are", "this", "be"}
    return sum(w in common for w in words) / len(words)


def cjk_ratio(text):
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum("\u4e00" <= c <= "\u9fff" for c in letters) / len(letters)


def eval_candidate(lang, paragraphs):
    text = "\n".join(paragraphs)
    if not EVAL_DOC_CHARS[0] <= len(text) <= EVAL_DOC_CHARS[1]:
        return False
    if lang == "en":
        return english_ratio(text) >= 0.10
    if lang == "zh":
        return cjk_ratio(text) >= 0.5
    return english_ratio(text) <= 0.02


def dedupe_keys(paragraph):
    """The keys under which a paragraph counts as repeated: itself and each
    of its lines, where long enough to be more than a heading."""
    keys = {line for line in paragraph.split("\n") if len(line) >= DEDUPE_MIN_CHARS}
    if len(paragraph) >= DEDUPE_MIN_CHARS:
        keys.add(paragraph)
    return keys


def is_man_page(doc_id):
    return doc_id.endswith(".gz")


def choose_eval(docs):
    """Whole documents held out per language, chosen by a hash of their id,
    alternately a manual's page and a man page (there are many more man
    pages, and a manual's prose is what the demo writes)."""
    chosen = {}
    for lang in LANGUAGES:
        ranked = sorted((stable_rank(doc_id), doc_id) for doc_id, (l, paragraphs)
                        in docs.items() if l == lang and eval_candidate(lang, paragraphs))
        pages = [d for _, d in ranked if not is_man_page(d)]
        mans = [d for _, d in ranked if is_man_page(d)]
        candidates = [d for pair in itertools.zip_longest(pages, mans) for d in pair if d]
        total, per_package = 0, {}
        for doc_id in candidates:
            if total >= EVAL_CHARS[lang]:
                break
            package = doc_id.split(":", 1)[0]
            if per_package.get(package, 0) >= EVAL_DOCS_PER_PACKAGE:
                continue
            per_package[package] = per_package.get(package, 0) + 1
            chosen[doc_id] = lang
            total += len("\n".join(docs[doc_id][1]))
        if total < EVAL_CHARS[lang]:
            fail(f"only {total} characters of {lang} evaluation text could be chosen "
                 f"(wanted {EVAL_CHARS[lang]})")
    return chosen


# ---------------------------------------------------------------------------
# Main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(REPO, ".carry/corpus"),
                        help="folder for train.jsonl.xz and manifest.json (not committed)")
    parser.add_argument("--eval-out", default=os.path.join(HERE, "eval.txt"))
    parser.add_argument("--manifest-out", default=os.path.join(HERE, "corpus_manifest.json"))
    parser.add_argument("--debs", default="",
                        help="folder that keeps the downloaded .debs between runs "
                             "(default: a temporary folder)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            fail(f"{tool} is not on the PATH (this script runs on Debian 12)")
    if not groff_available():
        fail("groff is not on the PATH (apt-get install groff-base)")
    if args.jobs < 1:
        fail(f"--jobs must be at least 1, got {args.jobs}")

    work = tempfile.mkdtemp(prefix="debian-small-corpus-")
    try:
        deb_dir = args.debs or os.path.join(work, "debs")
        os.makedirs(deb_dir, exist_ok=True)

        jobs, package_info = [], []
        for package in PACKAGES:
            deb = download(package, deb_dir)
            root = os.path.join(work, "root", package.name)
            unpack(deb, root)
            count = 0
            for folder, _, files in os.walk(root):
                for name in files:
                    path = os.path.join(folder, name)
                    relative = os.path.relpath(path, root).replace(os.sep, "/")
                    lang = package.language_of(relative)
                    if lang is None or os.path.islink(path):
                        continue
                    jobs.append((f"{package.name}:{relative}", lang, path))
                    count += 1
            if count == 0:
                fail(f"{package.name}: no file matches {package.files!r}")
            package_info.append({"name": package.name, "version": package.version,
                                 "sha256": package.sha256, "files_read": count,
                                 "licenses": licenses(root, package)})
            print(f"{package.name} {package.version}: {count} files", flush=True)

        jobs.sort()
        docs, unreadable = {}, []
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for doc_id, lang, paragraphs in pool.map(extract, jobs, chunksize=16):
                if paragraphs is None:
                    unreadable.append(doc_id)
                elif len("\n".join(paragraphs)) >= MIN_DOC_CHARS:
                    docs[doc_id] = (lang, paragraphs)
        print(f"extracted {len(docs)} documents; {len(unreadable)} files not UTF-8 "
              f"or unreadable", flush=True)

        eval_ids = choose_eval(docs)

        # Evaluation documents first: their paragraphs and lines are reserved.
        reserved, eval_docs = set(), {lang: [] for lang in LANGUAGES}
        for doc_id in sorted(eval_ids, key=stable_rank):
            lang, paragraphs = docs[doc_id]
            kept = [p for p in paragraphs if not (dedupe_keys(p) & reserved)]
            for p in kept:
                reserved |= dedupe_keys(p)
            eval_docs[lang].append((doc_id, "\n".join(kept)))

        seen, dropped_reserved, dropped_repeated = set(), 0, 0
        train = []
        for doc_id in sorted(docs):
            if doc_id in eval_ids:
                continue
            lang, paragraphs = docs[doc_id]
            kept = []
            for p in paragraphs:
                keys = dedupe_keys(p)
                if keys & reserved:
                    dropped_reserved += 1
                elif keys & seen:
                    dropped_repeated += 1
                else:
                    seen |= keys
                    kept.append(p)
            text = "\n".join(kept)
            if len(text) >= MIN_DOC_CHARS:
                train.append({"id": doc_id, "lang": lang, "text": text})

        # Shuffled by hash, so that any prefix of the file mixes languages.
        train.sort(key=lambda d: stable_rank(d["id"]))
        eval_text = "\n\n".join(text for lang in LANGUAGES for _, text in eval_docs[lang]) + "\n"

        # The guarantee, checked again on the final texts.
        train_keys = set()
        for d in train:
            for p in d["text"].split("\n"):
                train_keys |= dedupe_keys(p)
        shared = [p for p in eval_text.split("\n") if dedupe_keys(p) & train_keys]
        if shared:
            fail(f"{len(shared)} evaluation lines also occur in training, e.g. {shared[0]!r}")

        os.makedirs(args.out, exist_ok=True)
        train_path = os.path.join(args.out, "train.jsonl.xz")
        raw = io.BytesIO()
        for d in train:
            raw.write(json.dumps(d, ensure_ascii=False, sort_keys=True).encode("utf-8"))
            raw.write(b"\n")
        with open(train_path, "wb") as f:
            f.write(lzma.compress(raw.getvalue(), preset=6))
        xz_bytes = os.path.getsize(train_path)
        if xz_bytes > MAX_TRAIN_XZ_BYTES:
            fail(f"{train_path} is {xz_bytes} bytes, over {MAX_TRAIN_XZ_BYTES} "
                 "(it must travel to the GPU machine)")
        with open(args.eval_out, "w", encoding="utf-8", newline="\n") as f:
            f.write(eval_text)

        stats = {}
        for lang in LANGUAGES:
            train_lang = [d for d in train if d["lang"] == lang]
            stats[lang] = {
                "train_documents": len(train_lang),
                "train_bytes": sum(len(d["text"].encode("utf-8")) for d in train_lang),
                "eval_documents": len(eval_docs[lang]),
                "eval_bytes": sum(len(t.encode("utf-8")) for _, t in eval_docs[lang]),
            }
        groff_version = subprocess.run(["groff", "--version"], stdout=subprocess.PIPE,
                                       text=True, check=False).stdout.splitlines()[:1]
        manifest = {
            "packages": package_info,
            "languages": stats,
            "eval_documents": {lang: [doc_id for doc_id, _ in eval_docs[lang]]
                               for lang in LANGUAGES},
            "dropped": {"unreadable_files": len(unreadable),
                        "paragraphs_in_eval": dropped_reserved,
                        "paragraphs_repeated": dropped_repeated},
            "rules": {"min_doc_chars": MIN_DOC_CHARS, "dedupe_min_chars": DEDUPE_MIN_CHARS,
                      "eval_doc_chars": list(EVAL_DOC_CHARS), "eval_chars": EVAL_CHARS},
            "train_jsonl_bytes": len(raw.getvalue()),
            "train_xz_bytes": xz_bytes,
            "train_xz_sha256": sha256_file(train_path),
            "eval_bytes": len(eval_text.encode("utf-8")),
            "eval_sha256": sha256_file(args.eval_out),
            "built_with": {"python": sys.version.split()[0],
                           "groff": groff_version[0] if groff_version else "?"},
        }
        for path in (os.path.join(args.out, "manifest.json"), args.manifest_out):
            with open(path, "w", encoding="utf-8") as f:
                json.dump(manifest, f, indent=1, ensure_ascii=False)
                f.write("\n")
        for lang, s in stats.items():
            print(f"{lang}: train {s['train_documents']} docs {s['train_bytes']} bytes; "
                  f"eval {s['eval_documents']} docs {s['eval_bytes']} bytes")
        print(f"wrote {train_path} ({xz_bytes} bytes xz, {len(raw.getvalue())} raw), "
              f"{args.eval_out} ({manifest['eval_bytes']} bytes)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
