#!/usr/bin/env python3
"""Puts bloom-run's benchmark figures beside Hugging Face transformers' and
beside the physical floor of each (floors.py, from the ceilings measured in
the same run), and writes results.json, results.md (the table) and
decode.png (decode ms/step against batch, with the floor).

Inputs are JSON lines: bloom-run --bench's (one object per run, keys
backend, device, plan, batch, prompt_len, new_tokens, load_ms, ttft_ms,
decode_ms_per_step_median, decode_ms_per_step_mean, decode_tokens_per_s,
total_ms, peak_device_bytes; or {"error": ...} for a run that failed),
hf_reference.py's (the same keys plus "kind"), and ceilings.py's object.
hf_reference.py --compile writes its records to the same file with backend
"hf-transformers-compiled" (transformers with a static cache, the forward
compiled by torch.compile); when there are any, every table gets that
third column, the speed-up against it and issue 15's bound on it (at least
1.5x), and its compile time is reported apart. Records of kind
"prompt_rows" on both sides (prompt_rows.py) add issue 15's top-1
agreement over every prompt row and its 99% bound.
Standard library only; matplotlib is used for the plot when present.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import floors  # noqa: E402
import prompt_rows  # noqa: E402

COMPILED_BACKEND = "hf-transformers-compiled"
# Issue 15: every figure at least this much faster than the compiled baseline.
COMPILED_SPEEDUP_BOUND = 1.5

# Issue 4's targets for BLOOM-7b1 shapes on one H100.
TARGETS = {
    ("decode_ms", 1): ("<=", 5.5),
    ("decode_tokens_per_s", 64): (">=", 9000.0),
    ("decode_tokens_per_s", 128): (">=", 15000.0),
    ("ttft_ms", 512): ("<=", 15.0),
    ("ttft_ms", 2048): ("<=", 55.0),
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ours", required=True, help="bloom-run --bench JSON lines")
    p.add_argument("--hf", help="hf_reference.py JSON lines")
    p.add_argument("--ceilings", help="ceilings.py JSON")
    p.add_argument("--config", required=True, help="the benchmarked model's config.json")
    p.add_argument("--model-name", help="shown in the table (default: the config's file name)")
    p.add_argument("--batches", default="1,8,32,64,128")
    p.add_argument("--prompt-len", type=int, default=32)
    p.add_argument("--new-tokens", type=int, default=100)
    p.add_argument("--ttft-prompts", default="512,2048")
    p.add_argument("--element-bytes", type=int, default=2, help="storage width (bf16: 2)")
    p.add_argument("--no-targets", action="store_true", help="omit issue 4's targets")
    p.add_argument("--out-dir", required=True)
    return p.parse_args()


def read_json_lines(path):
    records = []
    if not path or not os.path.exists(path):
        return records
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                print(f"compare.py: {path}:{number}: skipped, not JSON ({error})", file=sys.stderr)
    return records


def classify(record, decode_prompt_len, ttft_prompts):
    """('decode', batch) or ('ttft', prompt_len), or None."""
    kind = record.get("kind")
    batch, prompt_len = record.get("batch"), record.get("prompt_len")
    if kind == "ttft" or (kind is None and batch == 1 and prompt_len in ttft_prompts
                          and prompt_len != decode_prompt_len):
        return ("ttft", prompt_len)
    if kind in (None, "decode") and prompt_len == decode_prompt_len:
        return ("decode", batch)
    return None


def index(records, decode_prompt_len, ttft_prompts):
    table = {}
    for record in records:
        key = classify(record, decode_prompt_len, ttft_prompts)
        if key is not None:
            table[key] = record  # a later run of the same configuration wins
    return table


def decode_figures(record):
    if record is None:
        return None
    if "error" in record:
        return {"error": record["error"]}
    mean = record.get("decode_ms_per_step_mean")
    return {
        "ms_median": record.get("decode_ms_per_step_median"),
        "ms_mean": mean,
        # Both tools: sequences per step over the mean step time.
        "tokens_per_s": record["batch"] * 1e3 / mean if mean else None,
        "tokens_per_s_reported": record.get("decode_tokens_per_s"),
        "ttft_ms": record.get("ttft_ms"),
        "total_ms": record.get("total_ms"),
        "load_ms": record.get("load_ms"),
        "peak_device_bytes": record.get("peak_device_bytes"),
        "compile_ms": record.get("compile_ms"),
    }


def ratio(numerator, denominator):
    if numerator is None or denominator in (None, 0):
        return None
    return numerator / denominator


def check_target(metric, key, value):
    target = TARGETS.get((metric, key))
    if target is None or value is None:
        return None
    op, bound = target
    met = value <= bound if op == "<=" else value >= bound
    return {"op": op, "bound": bound, "met": met}


def compiled_target(speedup):
    if speedup is None:
        return None
    return {"op": ">=", "bound": COMPILED_SPEEDUP_BOUND, "met": speedup >= COMPILED_SPEEDUP_BOUND}


def build_results(args):
    batches = [int(b) for b in args.batches.split(",") if b]
    ttft_prompts = [int(t) for t in args.ttft_prompts.split(",") if t]
    ours_records = read_json_lines(args.ours)
    ours = index(ours_records, args.prompt_len, ttft_prompts)
    hf_records = read_json_lines(args.hf)
    hf = index([r for r in hf_records if r.get("backend") != COMPILED_BACKEND], args.prompt_len,
               ttft_prompts)
    compiled = index([r for r in hf_records if r.get("backend") == COMPILED_BACKEND],
                     args.prompt_len, ttft_prompts)
    ceilings = None
    if args.ceilings and os.path.exists(args.ceilings):
        found = read_json_lines(args.ceilings)
        ceilings = found[-1] if found else None
    shape = floors.BloomShape.from_file(args.config, args.element_bytes)
    use_targets = not args.no_targets

    device = next((r.get("device") for r in list(ours.values()) + list(hf.values())
                   if r.get("device")), None)
    results = {
        "device": device or (ceilings or {}).get("device"),
        "ceilings": ceilings,
        "model": {
            "config": args.model_name or os.path.basename(args.config),
            "params": shape.params,
            "weight_bytes": shape.weight_bytes,
            "layers": shape.layers,
            "hidden": shape.hidden,
            "vocab": shape.vocab,
            "element_bytes": shape.element_bytes,
        },
        "workload": {"prompt_len": args.prompt_len, "new_tokens": args.new_tokens,
                     "batches": batches, "ttft_prompts": ttft_prompts},
        "has_compiled": bool(compiled),
        "decode": [],
        "ttft": [],
        "prompt_rows": prompt_rows.agreement(ours_records, hf_records),
    }
    for batch in batches:
        o = decode_figures(ours.get(("decode", batch)))
        h = decode_figures(hf.get(("decode", batch)))
        hc = decode_figures(compiled.get(("decode", batch)))
        floor = (floors.median_decode_floor(shape, batch, args.prompt_len, args.new_tokens,
                                            ceilings) if ceilings else None)
        o_ms = o.get("ms_median") if o else None
        h_ms = h.get("ms_median") if h else None
        hc_ms = hc.get("ms_median") if hc else None
        row = {
            "batch": batch,
            "ours": o,
            "hf": h,
            "hf_compiled": hc,
            "speedup": ratio(h_ms, o_ms),
            "speedup_vs_compiled": ratio(hc_ms, o_ms),
            "floor": floor,
            "floor_tokens_per_s": batch * 1e3 / floor["floor_ms"] if floor else None,
            "ours_over_floor": ratio(o_ms, floor["floor_ms"]) if floor else None,
            "hf_over_floor": ratio(h_ms, floor["floor_ms"]) if floor else None,
            "hf_compiled_over_floor": ratio(hc_ms, floor["floor_ms"]) if floor else None,
            "min_memory_bytes": floors.minimum_memory_bytes(
                shape, batch, args.prompt_len + args.new_tokens),
        }
        if use_targets:
            row["target"] = (check_target("decode_ms", batch, o_ms)
                             or check_target("decode_tokens_per_s", batch,
                                             o.get("tokens_per_s") if o else None))
            row["compiled_target"] = compiled_target(row["speedup_vs_compiled"])
        results["decode"].append(row)
    for prompt_len in ttft_prompts:
        o = ours.get(("ttft", prompt_len))
        h = hf.get(("ttft", prompt_len))
        hc = compiled.get(("ttft", prompt_len))
        o_ms = o.get("ttft_ms") if o and "error" not in o else None
        h_ms = h.get("ttft_ms") if h and "error" not in h else None
        hc_ms = hc.get("ttft_ms") if hc and "error" not in hc else None
        floor = floors.prefill_floor(shape, prompt_len, ceilings) if ceilings else None
        row = {
            "prompt_len": prompt_len,
            "ours_ms": o_ms,
            "ours_error": o.get("error") if o else None,
            "hf_ms": h_ms,
            "hf_error": h.get("error") if h else None,
            "hf_compiled_ms": hc_ms,
            "hf_compiled_error": hc.get("error") if hc else None,
            "hf_compiled_compile_ms": hc.get("compile_ms") if hc else None,
            "ours_peak_device_bytes": o.get("peak_device_bytes") if o else None,
            "hf_peak_device_bytes": h.get("peak_device_bytes") if h else None,
            "speedup": ratio(h_ms, o_ms),
            "speedup_vs_compiled": ratio(hc_ms, o_ms),
            "floor": floor,
            "ours_over_floor": ratio(o_ms, floor["floor_ms"]) if floor else None,
            "hf_over_floor": ratio(h_ms, floor["floor_ms"]) if floor else None,
        }
        if use_targets:
            row["target"] = check_target("ttft_ms", prompt_len, o_ms)
            row["compiled_target"] = compiled_target(row["speedup_vs_compiled"])
        results["ttft"].append(row)
    return results


def fmt(value, digits=2, suffix=""):
    if value is None:
        return "—"
    return f"{float(value):,.{digits}f}{suffix}"


def gib(value):
    return "—" if value is None else f"{value / 2**30:.1f}"


def target_text(target):
    if not target:
        return ""
    return f"{target['op']} {target['bound']:g}: {'met' if target['met'] else 'MISSED'}"


def compiled_text(target):
    if not target:
        return ""
    return f"vs compiled {target['op']} {target['bound']:g}×: {'met' if target['met'] else 'MISSED'}"


def markdown(results):
    lines = []
    c = results["ceilings"]
    m = results["model"]
    w = results["workload"]
    lines.append(f"Device: {results['device'] or 'unknown'}. Model: {m['config']}, "
                 f"{m['params']:,} parameters, {m['weight_bytes'] / 1e9:.2f} GB at "
                 f"{m['element_bytes']} bytes each.")
    if c:
        lines.append(f"Measured ceilings: {c['bandwidth_bytes_per_s'] / 1e12:.2f} TB/s "
                     f"device-to-device copy (read + write), "
                     f"{c['bf16_flops_per_s'] / 1e12:.0f} TFLOP/s bf16 GEMM "
                     f"({c['gemm_n']}³).")
    else:
        lines.append("No ceilings measured: floors omitted.")
    lines.append("")
    lines.append(f"Decode: greedy, {w['prompt_len']}-token prompts, {w['new_tokens']} new "
                 "tokens; ms per decode step (median over steps); tokens/s = batch / mean step; "
                 "floor = max(bytes / bandwidth, FLOPs / GEMM rate) at the median step's context.")
    lines.append("")
    compiled = results.get("has_compiled", False)
    # With the compiled baseline, its column and the speed-up over it follow
    # HF eager's; issue 15's bound on that speed-up joins the target column.
    extra_head = " HF compiled ms/step | vs compiled |" if compiled else ""
    extra_rule = "---:|---:|" if compiled else ""
    lines.append("| batch | bloom-run ms/step | HF ms/step | speed-up |" + extra_head +
                 " floor ms (bound) | ours / floor | bloom-run tok/s | HF tok/s | floor tok/s "
                 "| peak GiB ours / HF / min | target |")
    lines.append("|---:|---:|---:|---:|" + extra_rule + "---:|---:|---:|---:|---:|---:|---|")
    for row in results["decode"]:
        o, h, f = row["ours"] or {}, row["hf"] or {}, row["floor"]
        ours_ms = fmt(o.get("ms_median")) if "error" not in o else "error"
        hf_ms = fmt(h.get("ms_median")) if "error" not in h else "error"
        floor_text = f"{f['floor_ms']:.2f} ({f['bound']})" if f else "—"
        extra = ""
        targets = target_text(row.get("target"))
        if compiled:
            hc = row["hf_compiled"] or {}
            hc_ms = fmt(hc.get("ms_median")) if "error" not in hc else "error"
            extra = f" {hc_ms} | {fmt(row['speedup_vs_compiled'], 2, '×')} |"
            targets = "; ".join(t for t in (targets, compiled_text(row.get("compiled_target"))) if t)
        lines.append(
            f"| {row['batch']} | {ours_ms} | {hf_ms} | {fmt(row['speedup'], 2, '×')} |{extra} "
            f"{floor_text} | {fmt(row['ours_over_floor'], 2, '×')} "
            f"| {fmt(o.get('tokens_per_s'), 0)} | {fmt(h.get('tokens_per_s'), 0)} "
            f"| {fmt(row['floor_tokens_per_s'], 0)} "
            f"| {gib(o.get('peak_device_bytes'))} / {gib(h.get('peak_device_bytes'))} / "
            f"{gib(row['min_memory_bytes'])} | {targets} |")
    if compiled:
        compile_ms = [(r["batch"], (r["hf_compiled"] or {}).get("compile_ms")) for r in results["decode"]]
        compile_text = ", ".join(f"batch {b}: {ms / 1e3:.1f} s" for b, ms in compile_ms if ms is not None)
        lines.append("")
        lines.append("HF compiled: transformers with a static KV cache and its forward compiled by "
                     "torch.compile, timed after a first generate() per shape; that first call "
                     f"(the compilation) is not in the figures: {compile_text or 'not reported'}.")
    lines.append("")
    lines.append("Time to first token: batch 1, one prefill and the greedy first token; "
                 "floor = max(FLOPs / GEMM rate, weight bytes / bandwidth).")
    lines.append("")
    lines.append("| prompt | bloom-run ms | HF ms | speed-up |" +
                 (" HF compiled ms | vs compiled |" if compiled else "") +
                 " floor ms (bound) | ours / floor | peak GiB ours / HF | target |")
    lines.append("|---:|---:|---:|---:|" + extra_rule + "---:|---:|---:|---|")
    for row in results["ttft"]:
        f = row["floor"]
        floor_text = f"{f['floor_ms']:.2f} ({f['bound']})" if f else "—"
        ours_ms = "error" if row["ours_error"] else fmt(row["ours_ms"])
        hf_ms = "error" if row["hf_error"] else fmt(row["hf_ms"])
        extra = ""
        targets = target_text(row.get("target"))
        if compiled:
            hc_ms = "error" if row.get("hf_compiled_error") else fmt(row.get("hf_compiled_ms"))
            extra = f" {hc_ms} | {fmt(row.get('speedup_vs_compiled'), 2, '×')} |"
            targets = "; ".join(t for t in (targets, compiled_text(row.get("compiled_target"))) if t)
        lines.append(
            f"| {row['prompt_len']} | {ours_ms} | {hf_ms} | {fmt(row['speedup'], 2, '×')} |{extra} "
            f"{floor_text} | {fmt(row['ours_over_floor'], 2, '×')} "
            f"| {gib(row['ours_peak_device_bytes'])} / {gib(row['hf_peak_device_bytes'])} "
            f"| {targets} |")
    lines += prompt_rows.markdown(results.get("prompt_rows"))
    sides = ("ours", "hf", "hf_compiled")
    errors = [(r["batch"], side, r[side]["error"]) for r in results["decode"]
              for side in sides if r.get(side) and "error" in r[side]]
    errors += [(r["prompt_len"], side, r[f"{side}_error"]) for r in results["ttft"]
               for side in sides if r.get(f"{side}_error")]
    if errors:
        lines.append("")
        lines.append("Errors:")
        for key, side, text in errors:
            lines.append(f"- {side} at {key}: {text}")
    return "\n".join(lines) + "\n"


def plot(results, path):
    """The decode figure into `path`; None when there is no decode batch to
    draw (a run of the agreement check or the prefills alone)."""
    batches = [r["batch"] for r in results["decode"]]
    if not batches:
        return None
    ours = [(r["ours"] or {}).get("ms_median") for r in results["decode"]]
    hf = [(r["hf"] or {}).get("ms_median") for r in results["decode"]]
    compiled = [(r.get("hf_compiled") or {}).get("ms_median") for r in results["decode"]]
    floor = [r["floor"]["floor_ms"] if r["floor"] else None for r in results["decode"]]
    title = f"decode ms/step vs batch ({results['device'] or 'GPU'})"
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        import png_plot
        series = [("bloom-run", ours, (31, 119, 180)), ("HF", hf, (214, 39, 40))]
        if results.get("has_compiled"):
            series.append(("HF compiled", compiled, (255, 127, 14)))
        png_plot.line_plot(path, "decode ms/step", batches, series + [("floor", floor, (90, 90, 90))])
        return "png_plot"
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    lines = [("bloom-run", ours, "o-"), ("HF transformers (eager, bf16)", hf, "s-")]
    if results.get("has_compiled"):
        lines.append(("HF transformers (static cache, torch.compile)", compiled, "^-"))
    lines.append(("floor (measured bandwidth / GEMM rate)", floor, "k--"))
    for name, ys, style in lines:
        points = [(b, y) for b, y in zip(batches, ys) if y is not None]
        if points:
            ax.plot([b for b, _ in points], [y for _, y in points], style, label=name)
    ax.set_xscale("log", base=2)
    ax.set_xticks(batches)
    ax.set_xticklabels([str(b) for b in batches])
    ax.set_xlabel("batch (sequences per decode step)")
    ax.set_ylabel("ms per decode step (median)")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return "matplotlib"


def main():
    args = parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    results = build_results(args)
    results["plot"] = plot(results, os.path.join(args.out_dir, "decode.png"))
    with open(os.path.join(args.out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    table = markdown(results)
    with open(os.path.join(args.out_dir, "results.md"), "w") as f:
        f.write(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
