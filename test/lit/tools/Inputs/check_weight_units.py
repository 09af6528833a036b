#!/usr/bin/env python3
"""Checks the disk weight units bloom-compile wrote against the checkpoint.

Independent of the compiler: reads each `plan.weight_unit ... disk` and each
streamed `plan.weight` from plan.mlir, reads the checkpoint with its own
safetensors parser, and requires that every weight's stored bytes (f32
plans only: no conversion) sit at unit file_offset + slot_offset of the
unit file, that units start at multiples of 4096, and that the file is
exactly the units laid end to end.

usage: check_weight_units.py CHECKPOINT_DIR PLAN_DIR [PLAN_TEXT]
PLAN_TEXT names the plan IR inside PLAN_DIR (default plan.mlir; e.g.
plan.stage1.rank0.mlir for one mesh position of a pipeline).
Prints "N units, W weights, B bytes" and exits 1 on the first mismatch.
"""
import json
import os
import re
import struct
import sys

UNIT = re.compile(r'plan\.weight_unit "([^"]+)" disk bytes = (\d+) slot = \d+ '
                  r'file "([^"]+)" offset (\d+)')
WEIGHT = re.compile(r'plan\.weight "[^"]+" from "([^"]+)" \["([^"]+)"\] f32 '
                    r'stream "([^"]+)" at (\d+)')


def tensor_bytes(checkpoint, file, name, cache={}):
    if file not in cache:
        with open(os.path.join(checkpoint, file), "rb") as f:
            data = f.read()
        (n,) = struct.unpack("<Q", data[:8])
        cache[file] = (json.loads(data[8:8 + n]), data[8 + n:])
    header, body = cache[file]
    begin, end = header[name]["data_offsets"]
    if header[name]["dtype"] != "F32":
        sys.exit(f"{name}: stored as {header[name]['dtype']}, this check needs F32")
    return body[begin:end]


def main():
    checkpoint, plan_dir = sys.argv[1], sys.argv[2]
    plan_text = sys.argv[3] if len(sys.argv) > 3 else "plan.mlir"
    text = open(os.path.join(plan_dir, plan_text)).read()
    units = {m[1]: (int(m[2]), m[3], int(m[4])) for m in UNIT.finditer(text)}
    files = {}
    for name, (size, file, offset) in units.items():
        if offset % 4096 or size % 4096:
            sys.exit(f"unit {name}: offset {offset} / size {size} not 4096-aligned")
        if file not in files:
            with open(os.path.join(plan_dir, file), "rb") as f:
                files[file] = f.read()
    weights = 0
    for m in WEIGHT.finditer(text):
        if m[3] not in units:
            continue  # a host unit: packed by the runtime
        size, file, offset = units[m[3]]
        stored = tensor_bytes(checkpoint, m[1], m[2])
        at = offset + int(m[4])
        if int(m[4]) + len(stored) > size or files[file][at:at + len(stored)] != stored:
            sys.exit(f"{m[2]}: bytes at {at} of {file} differ from the checkpoint")
        weights += 1
    for file, data in files.items():
        expected = sum(size for size, f, _ in units.values() if f == file)
        if len(data) != expected:
            sys.exit(f"{file}: {len(data)} bytes, units need {expected}")
    print(f"{len(units)} units, {weights} weights, {sum(len(d) for d in files.values())} bytes")


if __name__ == "__main__":
    main()
