#!/usr/bin/env python3
"""Checks bloom-compile --pack-weights output against the checkpoint.

Independent of the compiler: it re-derives from config.json which slice of
which checkpoint tensor each rank must hold (Megatron's rules, written here
from the partitioning's definition, not from the pass), reads both files with
its own safetensors parser, converts the stored values to the storage dtype
itself (round to nearest even) and requires bit-equal data. It also requires
that a rank's file holds nothing else, and that the rank's plan IR points
its weights at that file with the plan directory as checkpoint directory.
Files: rank<R>.safetensors beside plan.rank<R>.mlir; weights.safetensors
beside plan.mlir at tp=1.

usage: check_packed_weights.py CHECKPOINT_DIR PLAN_DIR TP DTYPE [--replicate-vocab]
Prints one line per rank ("rank R: N tensors, B bytes") and exits 1 on the
first mismatch.
"""
import json
import os
import re
import struct
import sys


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    body = data[8 + n:]
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        tensors[name] = (info["dtype"], info["shape"], body[begin:end])
    return tensors


def checkpoint_tensors(ckpt):
    index = os.path.join(ckpt, "model.safetensors.index.json")
    files = (sorted(set(json.load(open(index))["weight_map"].values()))
             if os.path.exists(index) else ["model.safetensors"])
    tensors = {}
    for f in files:
        tensors.update(read_safetensors(os.path.join(ckpt, f)))
    # Canonical (bare) names, as the plan names weights.
    return {k[len("transformer."):] if k.startswith("transformer.") else k: v
            for k, v in tensors.items()}


def to_floats(dtype, raw):
    n = len(raw) // {"F32": 4, "F16": 2, "BF16": 2}[dtype]
    if dtype == "F32":
        return list(struct.unpack("<%df" % n, raw))
    if dtype == "F16":
        return list(struct.unpack("<%de" % n, raw))
    bits = struct.unpack("<%dH" % n, raw)
    return [struct.unpack("<f", struct.pack("<I", b << 16))[0] for b in bits]


def from_floats(dtype, values):
    if dtype == "F32":
        return struct.pack("<%df" % len(values), *values)
    if dtype == "F16":
        return struct.pack("<%de" % len(values), *values)  # rounds to nearest even
    out = []
    for v in values:
        (b,) = struct.unpack("<I", struct.pack("<f", v))
        out.append((b + 0x7FFF + ((b >> 16) & 1)) >> 16)
    return struct.pack("<%dH" % len(out), *out)


def expected_slice(name, shape, tp, rank, vocab_parallel):
    """(dim, begin, end), None for the whole tensor, or 'absent'."""
    m = re.match(r"h\.\d+\.(.*)$", name)
    part = name if m is None else m.group(1)
    if name in ("word_embeddings.weight", "lm_head.weight"):
        return (0, rank * shape[0] // tp, (rank + 1) * shape[0] // tp) if vocab_parallel else None
    if part.startswith("self_attention.query_key_value.") or part.startswith("mlp.dense_h_to_4h."):
        return (0, rank * shape[0] // tp, (rank + 1) * shape[0] // tp)
    if part in ("self_attention.dense.weight", "mlp.dense_4h_to_h.weight"):
        return (1, rank * shape[1] // tp, (rank + 1) * shape[1] // tp)
    if part in ("self_attention.dense.bias", "mlp.dense_4h_to_h.bias"):
        return None if rank == 0 else "absent"
    return None


def take(dtype, shape, raw, sl):
    size = {"F32": 4, "F16": 2, "BF16": 2}[dtype]
    if sl is None:
        return list(shape), raw
    dim, b, e = sl
    if len(shape) == 1 or dim == 0:
        row = size * (shape[1] if len(shape) == 2 else 1)
        new = list(shape)
        new[0] = e - b
        return new, raw[b * row:e * row]
    cols = shape[1]
    out = bytearray()
    for r in range(shape[0]):
        out += raw[(r * cols + b) * size:(r * cols + e) * size]
    return [shape[0], e - b], bytes(out)


def main():
    ckpt, plan_dir, tp, dtype = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    replicate_vocab = "--replicate-vocab" in sys.argv
    storage = {"fp32": "F32", "bf16": "BF16", "fp16": "F16"}[dtype]
    source = checkpoint_tensors(ckpt)
    vocab = json.load(open(os.path.join(ckpt, "config.json")))["vocab_size"]
    vocab_parallel = not replicate_vocab and vocab % tp == 0
    for rank in range(tp):
        packed_file = "rank%d.safetensors" % rank if tp > 1 else "weights.safetensors"
        packed = read_safetensors(os.path.join(plan_dir, packed_file))
        want = {}
        for name, (sdtype, shape, raw) in source.items():
            sl = expected_slice(name, shape, tp, rank, vocab_parallel)
            if sl == "absent":
                continue
            new_shape, part = take(sdtype, shape, raw, sl)
            want[name] = (new_shape, from_floats(storage, to_floats(sdtype, part)))
        if sorted(want) != sorted(packed):
            sys.exit("rank %d: tensors differ: missing %s, extra %s" % (
                rank, sorted(set(want) - set(packed)), sorted(set(packed) - set(want))))
        total = 0
        for name, (shape, data) in want.items():
            pdtype, pshape, pdata = packed[name]
            if pdtype != storage or pshape != shape or pdata != data:
                sys.exit("rank %d: %s: packed %s %s differs from the expected %s %s" % (
                    rank, name, pdtype, pshape, storage, shape))
            total += len(pdata)
        text = open(os.path.join(plan_dir, "plan.rank%d.mlir" % rank if tp > 1 else "plan.mlir")).read()
        weights = re.findall(r'plan\.weight "[^"]+" from "([^"]+)" \["[^"]+"\] (\w+)( slice)?', text)
        if not weights or any(f != packed_file or s for f, _, s in weights):
            sys.exit("rank %d: the plan does not read every weight whole from %s" % (rank, packed_file))
        if 'checkpoint "%s"' % os.path.realpath(plan_dir) not in text:
            sys.exit("rank %d: the plan's checkpoint directory is not the plan directory" % rank)
        print("rank %d: %d tensors, %d bytes" % (rank, len(want), total))


if __name__ == "__main__":
    main()
