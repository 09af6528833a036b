#!/usr/bin/env python3
"""Makes extra Hugging Face `tokenizers` reference cases for the C++ tokenizer.

Runs where `tokenizers` is installed (the GPU machine; CPU only), from the
repository root:

    python3 test/golden/make_tokenizer_cases.py --out FILE.json

and writes one JSON file (committed as test/golden/tokenizer_cases_extra.json)
with, for the tiny tokenizer models/bloom/tiny-random/tokenizer.json:

- `encode_cases`: texts chosen to cover BLOOM's Split pre-tokenizer
  (every member of the negated class ` ?[^(\\s|[.,!?…。，、।۔،])]+`, `(`,
  `)` and `|` included; every White_Space code point and a few look-alikes
  that are not; whitespace runs; special tokens next to text), longer
  multilingual text, and seeded random mixtures of all of those. Each case
  has `ids`, `tokens`, `decoded` (decode with skip_special_tokens=False) and
  `decoded_skip` (skip_special_tokens=True).
- `decode_cases`: seeded random id sequences (which mostly decode to invalid
  UTF-8, so they pin down how the ByteLevel decoder replaces bad bytes with
  U+FFFD) with both decodes.
- `added_variant`: the same tokenizer with extra added tokens (lstrip,
  rstrip, normalized and not, special and not, overlapping contents,
  non-ASCII contents); `added_tokens` is the list exactly as tokenizers
  serializes it, so a test can splice it into the tiny tokenizer.json, plus
  its own encode and decode cases.

Every section runs in its own guard; a failure is printed and the exit
status is 1, but the other sections are still written.
"""

import argparse
import json
import os
import random
import sys
import traceback

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import tokenizers  # noqa: E402
from tokenizers import AddedToken, Tokenizer  # noqa: E402

TOKENIZER_PATH = "models/bloom/tiny-random/tokenizer.json"
FAILURES = []

# Every White_Space code point (what Oniguruma's \s matches in UTF-8), and a
# few that look like spaces but are not White_Space: U+180E (was Zs before
# Unicode 6.3), U+200B, U+2060, U+FEFF.
WHITE_SPACE = ["\t", "\n", "\x0b", "\x0c", "\r", " ", "\x85", "\xa0", "\u1680"] + \
    [chr(c) for c in range(0x2000, 0x200B)] + ["\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]
NOT_WHITE_SPACE = ["\u180e", "\u200b", "\u2060", "\ufeff", "\x1c", "\x1f"]
CLASS_PUNCT = [".", ",", "!", "?", "…", "。", "，", "、", "।", "۔", "،", "(", ")", "|"]
NEAR_PUNCT = [";", ":", "[", "]", "{", "}", "\\", "s", "'", '"', "-", "؟", "！", "？", "．"]

ENCODE_TEXTS = [
    # Each class member alone, after a space, between letters, doubled.
    *CLASS_PUNCT,
    *[" " + p for p in CLASS_PUNCT],
    *["a" + p + "b" for p in CLASS_PUNCT],
    *["a " + p + " b" for p in CLASS_PUNCT],
    *[p + p + "x" + p for p in CLASS_PUNCT],
    # Characters close to the class that are not in it.
    *["x" + p + "y " + p + "z" for p in NEAR_PUNCT],
    # Every White_Space code point, alone, between words, after a space.
    *["a" + w + "b" for w in WHITE_SPACE],
    *["a " + w + "b" + w for w in WHITE_SPACE],
    *[w + w + "c" for w in WHITE_SPACE],
    *["a" + w + "b " + w for w in NOT_WHITE_SPACE],
    # Whitespace runs.
    " ", "  ", "   x", "x   ", "\n", "\n\n\n", " \n ", "\t \t", "\r\n", "a\r\nb",
    " " * 17 + "word", "word" + " " * 9, "a" + " " * 40 + "b",
    "x \u3000y\u3000 z", "  .  ,  !  ", ". . .", "... ???", "!!!", "…………",
    # Parentheses and bars as delimiters (literal members of the class).
    "f(x)|g(y)", "(a|b)", "((nested))", "||", "a||b", " (x) ", "x ( y ) | z",
    "cat file | grep -v '(foo)' > out.txt",
    # Special tokens in text.
    "<s>", "</s>", "<pad>", "<unk>", "<s><s>", "</s></s>x", "<s", "s>", "<<s>>",
    "a<pad>b", " <s> ", "x</s>", "<s>hello</s>", "<unk><pad></s><s>", "< s>",
    "<s>\n</s>", "text <unk>text", "<S>", "</s >",
    # Longer multilingual text.
    "BLOOM is a 176B-parameter open-access multilingual language model, trained on "
    "the ROOTS corpus (46 natural languages, 13 programming languages).",
    "Le modèle répond en français, en español, em português et en català, n'est-ce pas ?",
    "Привет, мир! Как дела? Всё хорошо.",
    "Γειά σου Κόσμε· τι κάνεις;",
    "안녕하세요, 세계! 한국어 텍스트입니다.",
    "สวัสดีชาวโลก ภาษาไทยไม่มีช่องว่างระหว่างคำ",
    "日本語のテキスト、句読点。そして「括弧」も！",
    "中文，标点符号、句号。问号？感叹号！省略号……",
    "اللغة العربية، مع علامات الترقيم؛ وسؤال؟ ونقطة.",
    "اردو زبان۔ یہ ایک جملہ ہے۔",
    "हिन्दी वाक्य। दूसरा वाक्य॥ तीसरा।",
    "বাংলা ভাষা। তামিল: தமிழ் மொழி।",
    "Swahili: Habari ya asubuhi? Yoruba: Ẹ kú àárọ̀.",
    "Vietnamese: Tiếng Việt có dấu thanh điệu.",
    "Combining: e\u0301 a\u0300 n\u0303 \u0915\u094d\u0937",
    "Emoji: 👍🏽 👨‍👩‍👧‍👦 🇫🇷 🏳️‍🌈 ❤️ 1️⃣",
    "Math: ∀x∈ℝ, x²≥0 ⇒ √(x²)=|x|",
    "Mixed scripts: abcабгαβγ漢字かなカナ한글",
    "Numbers 0123456789 ١٢٣ ०१२ 一二三 3.14159, 1,000,000!",
    "def main():\n    xs = [i ** 2 for i in range(10) if i % 2]\n    return sum(xs) | 0\n",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 1 << 4); return 0; }\n",
    "SELECT a, b FROM t WHERE (x > 1) AND (y IS NULL);",
    "https://huggingface.co/bigscience/bloom?tab=files#readme",
    "e-mail: someone@example.org, tel. +33 (0)1 23 45 67 89",
    "\u00a0non-breaking\u00a0spaces\u202fand\u2009thin\u2009spaces",
    "tab\tseparated\tvalues\n1\t2\t3\n",
    "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
    "the the the the the the the the the the",
    "ininininininininin thethethethe tiontiontion",
    "\U0010ffff\U0001f600\ue000\x00\x01\x7f",
    "a" * 300,
]


def random_texts(n, seed):
    rng = random.Random(seed)
    pool = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
            + ["the", "ing", " and", "tion", "中", "文", "字", "ع", "ر", "ب", "न", "म", "स्", "😀",
               "🚀", "é", "ß", "Ω", "\u0301", "€", "→", "∞", "<s>", "</s>", "<pad>", "<unk>", "<",
               ">", "/", "_", "-", "'", '"', "#", "*", "\x00"]
            + CLASS_PUNCT + WHITE_SPACE + NOT_WHITE_SPACE + [" "] * 12)
    out = []
    for _ in range(n):
        k = rng.randint(1, 40)
        out.append("".join(rng.choice(pool) for _ in range(k)))
    return out


def encode_case(tok, text):
    enc = tok.encode(text)
    ids = list(enc.ids)
    return {
        "text": text,
        "ids": ids,
        "tokens": list(enc.tokens),
        "decoded": tok.decode(ids, skip_special_tokens=False),
        "decoded_skip": tok.decode(ids, skip_special_tokens=True),
    }


def decode_cases(tok, n, seed, extra_ids):
    rng = random.Random(seed)
    vocab = tok.get_vocab_size(with_added_tokens=True)
    seqs = [list(s) for s in extra_ids]
    for _ in range(n):
        k = rng.randint(1, 12)
        seqs.append([rng.randrange(vocab) for _ in range(k)])
    return [{"ids": ids,
             "decoded": tok.decode(ids, skip_special_tokens=False),
             "decoded_skip": tok.decode(ids, skip_special_tokens=True)} for ids in seqs]


def byte_token_ids(tok):
    """Ids of the single-byte tokens of the byte-level alphabet, by byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: tok.token_to_id(chr(c)) for b, c in zip(bs, cs)}


def crafted_byte_sequences(tok):
    """Byte sequences that hit each branch of UTF-8 error recovery."""
    ids = byte_token_ids(tok)
    seqs = [
        [0xE4], [0xE4, 0xB8], [0xE4, 0xB8, 0xAD], [0xE4, 0x41], [0xE4, 0xB8, 0x41],
        [0x80], [0xBF, 0x80], [0xC0, 0x80], [0xC1, 0xBF], [0xC2], [0xC2, 0x41],
        [0xE0, 0x80, 0x80], [0xE0, 0xA0], [0xE0, 0xA0, 0x80], [0xED, 0xA0, 0x80],
        [0xED, 0x9F, 0xBF], [0xF0, 0x80, 0x80, 0x80], [0xF0, 0x90], [0xF0, 0x90, 0x80],
        [0xF0, 0x9F, 0x98, 0x80], [0xF4, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80],
        [0xF5, 0x80], [0xFE], [0xFF, 0xFE], [0xF0, 0x9F, 0x98], [0xF0, 0x9F, 0x98, 0x41],
        [0xE4, 0xE4, 0xB8, 0xAD], [0xC3, 0xA9, 0xC3], [0x41, 0x00, 0x42],
    ]
    out = []
    for s in seqs:
        out.append([ids[b] for b in s])
        out.append([1] + [ids[b] for b in s] + [2])  # with special tokens around
    return out


def guarded(label, fn, *args):
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001
        print(f"FAILED: {label}", flush=True)
        traceback.print_exc(file=sys.stdout)
        FAILURES.append(label)
        return None


def make_variant(base_path):
    tok = Tokenizer.from_file(base_path)
    tok.add_special_tokens([
        AddedToken("<mask>", lstrip=True, rstrip=False, single_word=False, normalized=False),
        AddedToken("<sep>", lstrip=False, rstrip=True, single_word=False, normalized=False),
        AddedToken("<both>", lstrip=True, rstrip=True, single_word=False, normalized=False),
    ])
    tok.add_tokens([
        AddedToken("hello", normalized=True),
        AddedToken("hello world", normalized=True),
        AddedToken("[X]", normalized=False),
        AddedToken("[X]Y", normalized=True),
        AddedToken("é", normalized=False),
        AddedToken("日本", normalized=False),
        AddedToken("ab", normalized=False),
        AddedToken("abc", normalized=False),
        AddedToken("the", normalized=True),  # already in the model vocab
    ])
    added = json.loads(tok.to_str())["added_tokens"]
    texts = [
        "hello world", "hello  world", "say hello", "helloworld", "<mask>", "a <mask> b",
        "a   <mask>", "a\t\n<mask>b", "<sep>  x", "x <sep>\n\ny", "<both>", "  <both>  z",
        "a\u3000<both>\u00a0b", "[X]Y", "[X]Z", "[X]", "é", "café", "日本語", "abcd", "abab",
        "xabcx", "ab c", "the theme", "<s>hello</s>", "<mask><mask>", " <mask> <mask> ",
        "<sep><sep> <sep>", "hello <mask> world <sep> ok",
    ]
    enc = [encode_case(tok, t) for t in texts]
    vocab = tok.get_vocab_size(with_added_tokens=True)
    new_ids = list(range(1024, vocab))
    dec_ids = [[i] for i in new_ids] + [[162, i] for i in new_ids] + [new_ids]
    dec = decode_cases(tok, 40, 7, dec_ids)
    return {"added_tokens": added, "vocab_size": vocab, "encode_cases": enc, "decode_cases": dec}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="output JSON file")
    args = parser.parse_args()

    tok = Tokenizer.from_file(TOKENIZER_PATH)
    result = {
        "tokenizer": TOKENIZER_PATH,
        "tokenizers_version": tokenizers.__version__,
        "python_version": sys.version.split()[0],
        "note": "made by test/golden/make_tokenizer_cases.py; ids from Tokenizer.encode "
                "(add_special_tokens=True, which adds nothing here); decoded = "
                "decode(ids, skip_special_tokens=False), decoded_skip = decode(ids, "
                "skip_special_tokens=True)",
    }
    texts = ENCODE_TEXTS + random_texts(150, 1234)
    result["encode_cases"] = guarded("encode", lambda: [encode_case(tok, t) for t in texts])
    result["decode_cases"] = guarded(
        "decode", lambda: decode_cases(tok, 200, 99, crafted_byte_sequences(tok)))
    result["added_variant"] = guarded("added_variant", make_variant, TOKENIZER_PATH)

    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, ensure_ascii=False)
        f.write("\n")
    for key in ("encode_cases", "decode_cases"):
        print(key, len(result[key] or []), flush=True)
    if result["added_variant"]:
        print("added_variant", len(result["added_variant"]["encode_cases"]),
              result["added_variant"]["vocab_size"], flush=True)
    if FAILURES:
        print("failures:", FAILURES, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
