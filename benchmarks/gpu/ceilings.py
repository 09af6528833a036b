#!/usr/bin/env python3
"""The GPU's two ceilings, measured in the benchmark's own run.

  memory bandwidth: a large device-to-device copy (torch), counting the bytes
                    read plus the bytes written, median of --reps copies;
  bf16 GEMM rate:   an N x N x N bf16 matrix product (torch, cuBLAS) on random
                    data (never zeros: they run faster), 2*N^3 FLOPs, median.

These, not datasheet numbers, are what compare.py divides by to get the
floors. Prints one JSON object.
"""
import argparse
import json
import statistics
import sys

import torch


def time_ms(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(reps):
        begin = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        begin.record()
        fn()
        end.record()
        end.synchronize()
        samples.append(begin.elapsed_time(end))
    return samples


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--copy-bytes", type=int, default=4 << 30)
    p.add_argument("--gemm-n", type=int, default=8192)
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--out", help="also write the JSON to this file")
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("ceilings.py: no CUDA device", file=sys.stderr)
        return 1

    # Far larger than L2 (50-60 MB), so the copy streams through HBM.
    src = torch.empty(args.copy_bytes, dtype=torch.uint8, device="cuda")
    src.random_(0, 256)
    dst = torch.empty_like(src)
    copy = time_ms(lambda: dst.copy_(src), warmup=3, reps=args.reps)
    copy_ms = statistics.median(copy)
    del src, dst
    torch.cuda.empty_cache()

    n = args.gemm_n
    a = torch.randn(n, n, dtype=torch.bfloat16, device="cuda")
    b = torch.randn(n, n, dtype=torch.bfloat16, device="cuda")
    c = torch.empty(n, n, dtype=torch.bfloat16, device="cuda")
    gemm = time_ms(lambda: torch.matmul(a, b, out=c), warmup=5, reps=args.reps)
    gemm_ms = statistics.median(gemm)

    props = torch.cuda.get_device_properties(0)
    record = {
        "kind": "ceilings",
        "device": torch.cuda.get_device_name(),
        "total_memory_bytes": props.total_memory,
        "multiprocessors": props.multi_processor_count,
        "copy_bytes": args.copy_bytes,
        "copy_ms_median": copy_ms,
        "copy_ms_min": min(copy),
        # read + write
        "bandwidth_bytes_per_s": 2 * args.copy_bytes / (copy_ms * 1e-3),
        "gemm_n": n,
        "gemm_ms_median": gemm_ms,
        "gemm_ms_min": min(gemm),
        "bf16_flops_per_s": 2 * n**3 / (gemm_ms * 1e-3),
        "torch": torch.__version__,
    }
    line = json.dumps(record)
    print(line, flush=True)
    if args.out:
        with open(args.out, "w") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
