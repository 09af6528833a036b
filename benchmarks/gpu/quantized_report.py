#!/usr/bin/env python3
"""The quantized-weights tables of docs/quantization.md from one device run
of scripts/gpu/quantized.sh (its bench.jsonl) and the plans' report.json,
each figure beside its floor.

Floors (floors.py's method, with the bytes the plan really stores):
  decode step of b sequences at median context c:
      (the plan's weights_bytes + K and V of every layer for b * c
       positions in bf16) / the run's measured device copy bandwidth
  prefill of T tokens: the larger of
      weights_bytes / bandwidth and
      (2 T x matmul parameters + 2 T^2 x hidden x layers) / the bf16 GEMM
      ceiling (760 TFLOP/s, DESIGN.md's measurement on this machine kind).
Amortised ms/token, as the DeepSpeed BLOOM benchmark defines it: the whole
generation's time (the prompt's prefill step plus every decode step) over
batch x new tokens.

  quantized_report.py --bench OUT/bench.jsonl --plans .carry/q/plans \
      --config-7b1 models/bloom/presets/bloom-7b1.json \
      --config-176b models/bloom/presets/bloom-176b.json
Standard library only.
"""
import argparse
import json
import os

from floors import BloomShape

GEMM_TFLOPS = 760.0


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.startswith("{")]


def weights_bytes(plan_dir):
    with open(os.path.join(plan_dir, "report.json")) as f:
        return sum(d["weights_bytes"] for d in json.load(f)["devices"])


def kv_bytes(shape, positions):
    return 2 * shape.layers * positions * shape.hidden * 2


def matmul_params(shape):
    h = shape.hidden
    return shape.layers * 12 * h * h + shape.vocab * h


def decode_floor_ms(shape, wbytes, batch, prompt, new_tokens, gbps):
    context = prompt + new_tokens // 2
    return (wbytes + kv_bytes(shape, batch * context)) / (gbps * 1e6)


def prefill_floor_ms(shape, wbytes, tokens, gbps):
    flops = 2 * tokens * matmul_params(shape) + 2 * tokens * tokens * shape.hidden * shape.layers
    return max(wbytes / (gbps * 1e6), flops / (GEMM_TFLOPS * 1e9))



FORMATS = ("bf16", "int8", "int4")


def print_format_table(key_name, records, cell, ratio):
    """One table of the three formats side by side: a row per value of
    `key_name` in `records` ((format, key) -> line), each format's cell
    (cell(format, key, line) -> (ms, text)), then int8's and int4's ratio
    to bf16 (ratio(ms of bf16, ms of the format) -> text)."""
    print(f"| {key_name} | " + " | ".join(f"{w} ms (floor)" for w in FORMATS) +
          " | int8 / bf16 | int4 / bf16 |")
    print("|---|" + "---|" * (len(FORMATS) + 2))
    for key in sorted({k for _, k in records}):
        cells, ms = [], {}
        for w in FORMATS:
            line = records.get((w, key))
            if line is None:
                cells.append("-")
                continue
            ms[w], text = cell(w, key, line)
            cells.append(text)
        ratios = [ratio(ms["bf16"], ms[w]) if w in ms and "bf16" in ms else "-"
                  for w in ("int8", "int4")]
        print(f"| {key} | " + " | ".join(cells) + f" | {ratios[0]} | {ratios[1]} |")


def print_7b1_tables(lines, args, gbps):
    shape = BloomShape.from_file(args.config_7b1)
    decode_plans = {"bf16": "7b1-decode", "int8": "7b1-decode.int8", "int4": "7b1-decode.int4"}
    prefill_plans = {"bf16": "7b1-prefill", "int8": "7b1-prefill.int8", "int4": "7b1-prefill.int4"}
    wbytes = {w: weights_bytes(os.path.join(args.plans, p)) for w, p in decode_plans.items()}
    decode = {(l["weights"], l["batch"]): l for l in lines
              if l.get("model") == "7b1" and l.get("kind") == "decode" and l["new_tokens"] >= 50}
    print("BLOOM-7b1 decode, ms/step (median) and its floor; weights in GB")

    def decode_cell(w, batch, l):
        ms = l["ms_per_step_median"]
        floor = decode_floor_ms(shape, wbytes[w], batch, l["prompt"], l["new_tokens"], gbps)
        return ms, f"{ms:.2f} ({floor:.2f}, {ms / floor:.2f}x)"

    print_format_table("batch", decode, decode_cell, lambda base, ms: f"{base / ms:.2f}x faster")
    print("\nweights: " + ", ".join(f"{w} {b / 1e9:.2f} GB" for w, b in wbytes.items()))

    prefill = {(l["weights"], l["prompt"]): l for l in lines
               if l.get("model") == "7b1" and l.get("kind") == "prefill"}
    if not prefill:
        return
    pbytes = {w: weights_bytes(os.path.join(args.plans, p)) for w, p in prefill_plans.items()}
    print("\nBLOOM-7b1 prefill (time to first token), ms and its floor")

    def prefill_cell(w, prompt, l):
        ms = l["ttft_ms_median"]
        return ms, f"{ms:.1f} ({prefill_floor_ms(shape, pbytes[w], prompt, gbps):.1f})"

    print_format_table("prompt", prefill, prefill_cell, lambda base, ms: f"{ms / base:.2f}x the time")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bench", required=True)
    parser.add_argument("--plans", required=True)
    parser.add_argument("--config-7b1", required=True)
    parser.add_argument("--config-176b")
    args = parser.parse_args()
    lines = load(args.bench)
    probes = [l for l in lines if l.get("kind") == "probe"]
    gbps = probes[0]["device_copy_gb_per_s"] if probes else 4200.0
    print(f"Measured device copy bandwidth: {gbps:.0f} GB/s; bf16 GEMM ceiling {GEMM_TFLOPS:.0f} TFLOP/s\n")

    # A run of the 176B phase alone has no 7b1 lines (nor needs its plans).
    if any(l.get("model") == "7b1" for l in lines):
        print_7b1_tables(lines, args, gbps)

    big = [l for l in lines if l.get("model") == "176b"]
    if big and args.config_176b:
        shape = BloomShape.from_file(args.config_176b)
        wb = weights_bytes(os.path.join(args.plans, "176b.int4"))
        print(f"\nBLOOM-176B, int4 g128 blocks and LM head ({wb / 1e9:.1f} GB of weights)")
        print("| batch | ms/token (median step) | floor | amortised ms/token | prefill of 32 x batch tokens, ms |")
        print("|---|---|---|---|---|")
        for l in big:
            if l.get("kind") != "decode":
                continue
            b, n = l["batch"], l["new_tokens"]
            floor = decode_floor_ms(shape, wb, b, l["prompt"], n, gbps)
            amortised = (l["prefill_ms"] + l["ms_per_step_mean"] * n) / (b * n)
            print(f"| {b} | {l['ms_per_step_median']:.2f} | {floor:.2f} ({l['ms_per_step_median'] / floor:.2f}x) "
                  f"| {amortised:.2f} | {l['prefill_ms']:.1f} |")
        for l in big:
            if l.get("kind") == "memory":
                print(f"\nload {l['load_seconds']:.1f} s; executor's peak device bytes "
                      f"{l['executor_bytes'] / 2**30:.1f} GiB; device used {l['device_used_bytes'] / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
