#!/usr/bin/env python3
"""Quantized weights packed by bloom-compile (--pack-weights, and disk
weight units) hold the bytes that the runtime makes at load, and those
bytes are the rounding of docs/quantization.md.

For each model and each quantization (int8; int4 at the model's group size;
both with and without --quantize-lm-head, and int4 blocks with an int8 LM
head, --lm-head-weights=int8; tiny-random also at tp=2) this
compiles the plan twice, quantized at load and packed, and checks
  * bloom-run's greedy tokens and dumped logits (every prompt and generated
    row) are the same bytes for both plans;
  * the packed plan's quantized weights carry no quantize(...) and read
    I8 / I4 values, F16 scales and I8 zero points from the packed file;
  * those tensors equal, byte for byte, a quantization of the checkpoint
    done here in Python (below: fp32 arithmetic emulated by rounding every
    result through struct's 'f', f16 scales through 'e'), of the source and
    slice that the unpacked plan names. tiny-random's tensors are checked
    whole; debian-small's (3 x 12 x 512^2 weights: too many for Python in
    a test) whole for one tensor and at a few rows of every other.
Every variant is also compiled with every weight unit on disk
(--offload=disk): the same logits, and the units file holds the same
quantized bytes.
Standard library only.
"""
import argparse
import json
import os
import re
import struct
import sys
import tempfile

from e2e_util import run

MODELS = {
    # name: (directory under the repository, int4 group size, tp degrees, prompt)
    "tiny-random": ("models/bloom/tiny-random", 32, (1, 2), "5,77,300,12,999,4,61"),
    "debian-small": ("models/bloom/debian-small", 128, (1,), "5,77,300,12,999,4,61,4000"),
}
NEW_TOKENS = "4"
# debian-small: the tensor checked whole; other sources at these rows.
WHOLE_TENSOR = "h.0.self_attention.dense.weight"
SPOT_ROWS = (0, 1, 2, 100, -2, -1)

WEIGHT_RE = re.compile(
    r'plan\.weight "(?P<name>[^"]+)" from "(?P<file>[^"]+)" \["(?P<tensor>[^"]+)"\] \w+'
    r'(?: slice\(dim = (?P<dim>\d+), begin = (?P<begin>\d+), end = (?P<end>\d+)\))?'
    r'(?P<quantize> quantize\((?P<format>int8|int4), group = (?P<group>\d+), '
    r'(?P<part>values|scales|zero_points)\))?'
    r'(?: stream "(?P<unit>[^"]+)" at (?P<offset>\d+))? : memref<(?P<shape>[\dx]+)x(?P<elem>\w+)>')
PROGRAM_RE = re.compile(r'plan\.program "[^"]*" checkpoint "(?P<dir>[^"]+)"')
UNIT_RE = re.compile(r'plan\.weight_unit "(?P<name>[^"]+)" disk .* file "(?P<file>[^"]+)" '
                     r'offset (?P<offset>\d+)')


# --- the rounding of docs/quantization.md, in fp32 -------------------------

def f32(values):
    """Each value rounded to the nearest float32 (half to even). For one
    +, -, * or / of float32 operands, computing in double and rounding once
    gives the float32 result exactly (53 >= 2 x 24 + 2 bits)."""
    n = len(values)
    return struct.unpack(f"<{n}f", struct.pack(f"<{n}f", *values))


def store_scale(value):
    """S(value): f16, nearest even, saturating at 65504 (the largest finite);
    returns (its two bytes, the stored scale as a float)."""
    raw = struct.pack("<e", min(value, 65504.0))
    return raw, struct.unpack("<e", raw)[0]


def quantize_row(w, fmt, group):
    """One row: (values bytes, scales bytes, zero point bytes)."""
    if fmt == "int8":
        amax = max(abs(v) for v in w)
        scale, s = store_scale(f32([amax / 127.0])[0])
        q = [0] * len(w) if s == 0 else [max(-127, min(127, round(t)))
                                         for t in f32([v / s for v in w])]
        return struct.pack(f"<{len(q)}b", *q), scale, b""
    q, scales, zeros = [], b"", []
    for start in range(0, len(w), group):
        g = w[start:start + group]
        mn, mx = min(0.0, min(g)), max(0.0, max(g))
        scale, s = store_scale(f32([f32([mx - mn])[0] / 15.0])[0])
        scales += scale
        if s == 0:
            zeros.append(0)
            q += [0] * len(g)
            continue
        zero = max(-8, min(7, round(f32([-mn / s])[0]) - 8))
        zeros.append(zero)
        q += [max(-8, min(7, round(t) + zero)) for t in f32([v / s for v in g])]
    # Two a byte, low nibble first, two's complement nibbles.
    packed = bytes((q[i] & 0xF) | ((q[i + 1] & 0xF) << 4) for i in range(0, len(q), 2))
    return packed, scales, struct.pack(f"<{len(zeros)}b", *zeros)


# --- files ----------------------------------------------------------------

class Safetensors:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        (n,) = struct.unpack("<Q", self.data[:8])
        self.header = json.loads(self.data[8:8 + n])
        self.header.pop("__metadata__", None)
        self.base = 8 + n

    def raw(self, name):
        info = self.header[name]
        begin, end = info["data_offsets"]
        return info["dtype"], info["shape"], self.data[self.base + begin:self.base + end]


def source_rows(checkpoint, weight, rows):
    """Rows of the float source slice [M, K] that `weight` names, as floats."""
    dtype, shape, raw = checkpoint(weight["file"]).raw(weight["tensor"])
    size, code = {"F32": (4, "f"), "F16": (2, "e")}[dtype]
    cols = shape[1]
    row_begin, col_begin, col_end = 0, 0, cols
    if weight["dim"] == "0":
        row_begin = int(weight["begin"])
    elif weight["dim"] == "1":
        col_begin, col_end = int(weight["begin"]), int(weight["end"])
    out = []
    for r in rows:
        start = ((row_begin + r) * cols + col_begin) * size
        out.append(list(struct.unpack(f"<{col_end - col_begin}{code}",
                                      raw[start:start + (col_end - col_begin) * size])))
    return out


def plan_weights(mlir_path):
    with open(mlir_path) as f:
        text = f.read()
    weights = [m.groupdict() for m in WEIGHT_RE.finditer(text)]
    units = {m["name"]: (m["file"], int(m["offset"])) for m in UNIT_RE.finditer(text)}
    return PROGRAM_RE.search(text)["dir"], weights, units


def row_bytes(part, fmt, shape):
    """Bytes of one row of a part: values (int4: two a byte), f16 scales, i8 zeros."""
    cols = shape[1]
    if part == "values":
        return cols // 2 if fmt == "int4" else cols
    return cols * 2 if part == "scales" else cols


# --- checks ---------------------------------------------------------------

def check_quantized_bytes(label, unpacked_mlir, read_part, whole):
    """Quantizes in Python every quantized source that `unpacked_mlir` names
    (all rows if `whole(name)`, else SPOT_ROWS) and compares each part's
    rows with read_part(weight) (the part's bytes as packed). Returns the
    number of (int8, int4) sources checked."""
    ckpt_dir, weights, _ = plan_weights(unpacked_mlir)
    files = {}

    def checkpoint(name):
        if name not in files:
            files[name] = Safetensors(os.path.join(ckpt_dir, name))
        return files[name]
    sources = {}
    for w in weights:
        if w["quantize"]:
            key = (w["tensor"], w["dim"], w["begin"], w["end"], w["format"], w["group"])
            sources.setdefault(key, []).append(w)
    counts = {"int8": 0, "int4": 0}
    for parts in sources.values():
        values = next(p for p in parts if p["part"] == "values")
        fmt, group = values["format"], int(values["group"])
        shape = [int(d) for d in values["shape"].split("x")]
        rows = (range(shape[0]) if whole(values["name"])
                else sorted({r % shape[0] for r in SPOT_ROWS}))
        quantized = [quantize_row(w, fmt, group) for w in source_rows(checkpoint, values, rows)]
        for p in parts:
            index = ("values", "scales", "zero_points").index(p["part"])
            got = read_part(p)
            part_shape = [int(d) for d in p["shape"].split("x")]
            stride = row_bytes(p["part"], fmt, part_shape)
            if len(got) != part_shape[0] * stride:
                sys.exit(f"FAILED: {label}: '{p['name']}' holds {len(got)} bytes, not "
                         f"{part_shape[0]} rows of {stride}")
            for r, expected in zip(rows, quantized):
                if got[r * stride:(r + 1) * stride] != expected[index]:
                    sys.exit(f"FAILED: {label}: '{p['name']}' row {r} is not the Python "
                             f"quantization of '{p['tensor']}' ({fmt}, group {group})")
        counts[fmt] += 1
    return counts


def check_packed_ir(label, packed_mlir, packed_path, packed_file):
    """The packed plan's quantized weights read I8/I4/F16 tensors of the packed
    file, whole, with no quantize(...)."""
    _, weights, _ = plan_weights(packed_mlir)
    if any(w["quantize"] or w["dim"] for w in weights):
        sys.exit(f"FAILED: {label}: the packed plan still quantizes or slices at load")
    dtypes = {"i4": "I4", "i8": "I8", "f16": "F16", "f32": "F32", "bf16": "BF16"}
    for w in weights:
        if w["file"] != os.path.basename(packed_path) or w["tensor"] != w["name"]:
            sys.exit(f"FAILED: {label}: '{w['name']}' does not read its packed tensor")
        dtype, shape, _ = packed_file.raw(w["name"])
        if dtype != dtypes[w["elem"]] or shape != [int(d) for d in w["shape"].split("x")]:
            sys.exit(f"FAILED: {label}: packed '{w['name']}' is {dtype} {shape}, the plan "
                     f"reads {w['elem']} {w['shape']}")


def compile_and_run(tool, model_dir, plan, flags, prompt):
    """Compiles `plan`; returns (its greedy tokens, its dumped logits' bytes)."""
    run([tool("bloom-compile"), f"--model={model_dir}", "-o", plan, *flags])
    logits = plan + ".npy"
    tokens = run([tool("bloom-run"), plan, f"--tokens={prompt}", f"--max-new-tokens={NEW_TOKENS}",
                  f"--dump-logits={logits}"]).split()
    with open(logits, "rb") as f:
        return tokens, f.read()


def unit_reader(disk_plan, mlir_name):
    """read_part for a disk-tiered plan: a weight's bytes in its units file."""
    _, weights, units = plan_weights(os.path.join(disk_plan, mlir_name))
    by_name = {w["name"]: w for w in weights}
    blobs = {}
    for file, _ in units.values():
        with open(os.path.join(disk_plan, file), "rb") as f:
            blobs[file] = f.read()

    def read_part(w):
        streamed = by_name[w["name"]]
        file, base = units[streamed["unit"]]
        shape = [int(d) for d in w["shape"].split("x")]
        start = base + int(streamed["offset"])
        return blobs[file][start:start + shape[0] * row_bytes(w["part"], w["format"], shape)]
    return read_part


def check_variant(tool, tmp, model, model_dir, flags, tp, prompt, whole, formats):
    """`formats`: the quantized formats the plan must hold (the blocks', and
    the LM head's when it is quantized)."""
    label = f"{model} {' '.join(flags)}"
    modes = {"at-load": [], "packed": ["--pack-weights"], "disk": ["--offload=disk"]}
    plans, results = {}, {}
    for mode, extra in modes.items():
        plans[mode] = os.path.join(tmp, f"{model}{''.join(flags)}-{mode}".replace("--", "-"))
        results[mode] = compile_and_run(tool, model_dir, plans[mode], flags + extra, prompt)
    for mode, result in results.items():
        if result != results["at-load"]:
            sys.exit(f"FAILED: {label}: the {mode} plan's tokens or logits are not the "
                     "quantized-at-load plan's bytes")
    checked = {"int8": 0, "int4": 0}
    for rank in range(tp):
        mlir_name = "plan.mlir" if tp == 1 else f"plan.rank{rank}.mlir"
        packed_path = os.path.join(
            plans["packed"], "weights.safetensors" if tp == 1 else f"rank{rank}.safetensors")
        packed = Safetensors(packed_path)
        check_packed_ir(label, os.path.join(plans["packed"], mlir_name), packed_path, packed)
        counts = check_quantized_bytes(f"{label} rank {rank}",
                                       os.path.join(plans["at-load"], mlir_name),
                                       lambda w: packed.raw(w["name"])[2], whole)
        for k in counts:
            checked[k] += counts[k]
        if "disk" in plans:
            check_quantized_bytes(f"{label} rank {rank} disk units",
                                  os.path.join(plans["disk"], mlir_name),
                                  unit_reader(plans["disk"], mlir_name), whole)
    for fmt in formats:
        if checked[fmt] == 0:
            sys.exit(f"FAILED: {label}: no {fmt} weight was checked")
    print(f"{label}: tokens {' '.join(results['at-load'][0])}; {', '.join(sorted(modes))} "
          f"give the same logits; {checked['int8']} int8 and {checked['int4']} int4 sources "
          "equal the Python quantization")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin", required=True, help="directory holding the tools")
    parser.add_argument("--repo", required=True, help="repository root")
    args = parser.parse_args()
    tool = lambda name: os.path.join(args.bin, name)

    with tempfile.TemporaryDirectory(prefix="bloom-quantized-pack-") as tmp:
        for model, (subdir, group, tps, prompt) in MODELS.items():
            model_dir = os.path.join(args.repo, subdir)
            whole = (lambda name: True) if model == "tiny-random" else (
                lambda name: name == WHOLE_TENSOR)
            for tp in tps:
                # (blocks, LM head: None not quantized, else its format)
                for fmt, head in (("int8", None), ("int8", "int8"), ("int4", None),
                                  ("int4", "int4"), ("int4", "int8")):
                    flags = [f"--weights={fmt}", f"--tp={tp}"]
                    flags += [f"--group-size={group}"] if fmt == "int4" else []
                    flags += ["--quantize-lm-head"] if head else []
                    # The mix names the head's format; the others take the default.
                    flags += [f"--lm-head-weights={head}"] if head and head != fmt else []
                    check_variant(tool, tmp, model, model_dir, flags, tp, prompt, whole,
                                  {fmt, head} - {None})
    print("PASSED")


if __name__ == "__main__":
    main()
