#!/usr/bin/env python3
"""Times `bloom-compile --shapes-only` on a family preset (wall clock).

A benchmark, not a test: it prints one JSON object and asserts nothing.

    benchmarks/compile_time/compile_time.py --bin=build/default/bin \
        [--preset=bloom-176b] [--dtype=bf16] [--repeat=5]

Each run builds the unfused graph from the preset's config, runs fuse →
assign-precision → plan-memory → lower, and writes plan.mlir and
report.json into a fresh temporary directory. Reports every run, the best
and the median, in seconds.
"""
import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True, help="directory holding bloom-compile")
    parser.add_argument("--preset", default="bloom-176b")
    parser.add_argument("--dtype", default="bf16", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    compiler = pathlib.Path(args.bin) / "bloom-compile"
    preset = REPO / "models" / "bloom" / "presets" / f"{args.preset}.json"
    if not compiler.exists():
        print(f"compile_time: {compiler}: not found", file=sys.stderr)
        return 1
    if not preset.exists():
        print(f"compile_time: {preset}: no such preset", file=sys.stderr)
        return 1

    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        for i in range(args.repeat):
            out = pathlib.Path(scratch) / f"run{i}"
            command = [str(compiler), f"--model={preset}", "--shapes-only",
                       f"--dtype={args.dtype}", "-o", str(out)]
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            elapsed = time.perf_counter() - start
            if done.returncode != 0:
                print(f"compile_time: {' '.join(command)} failed: {done.stderr.strip()}",
                      file=sys.stderr)
                return 1
            runs.append(round(elapsed, 4))
        report = json.loads((pathlib.Path(scratch) / "run0" / "report.json").read_text())

    print(json.dumps({
        "benchmark": "bloom-compile --shapes-only",
        "preset": args.preset,
        "dtype": args.dtype,
        "runs_s": runs,
        "best_s": min(runs),
        "median_s": statistics.median(runs),
        "total_bytes": report["devices"][0]["total_bytes"],
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
