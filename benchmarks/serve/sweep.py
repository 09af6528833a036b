#!/usr/bin/env python3
"""A request-rate sweep: runs load_generator.py once per (target, rate), keeps
each run's JSON in --out-dir, and from every run found there (earlier
invocations included, so that targets can be swept one server at a time)
finds, per label, the highest rate that holds the SLOs, and plots p99 TTFT,
p99 TPOT and throughput against request rate as a PNG (sweep.png, with the
summary in sweep.json).

A rate holds when p99 TTFT <= --slo-ttft-ms, p99 TPOT <= --slo-tpot-ms and no
more than --max-failed-fraction of its requests failed (a server shedding load
with 429s does not hold it). The highest rate under the SLO is the top of the
run of holding rates from the lowest up: a higher rate that holds by luck
after one that did not is not counted.

  sweep.py --target continuous=http://127.0.0.1:8080 --rates 1,2,4,8 --out-dir runs \\
      -- --num-requests 200 --input-len-min 128 --input-len-max 512 ...
Arguments after `--` go to every load_generator run.
"""
import argparse
import glob
import json
import math
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "gpu"))
import png_plot  # noqa: E402

PROG = "sweep"
PALETTE = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14),
           (23, 190, 207)]
SLO_COLOR = (150, 150, 150)


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see --help)")


def _rate(text):
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--rates: not a number: {text!r}")
    if not value > 0:
        raise UsageError(f"--rates: must be > 0 (or inf): {text!r}")
    return value


def parse_args(argv):
    passthrough = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1:]
    p = _Parser(prog=PROG, description=__doc__.split("\n\n")[0],
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", action="append", default=[], metavar="LABEL=URL",
                   help="a server to sweep, e.g. continuous=http://127.0.0.1:8080 (repeatable)")
    p.add_argument("--rates", default=None, help="comma-separated request rates (req/s; inf)")
    p.add_argument("--out-dir", required=True, help="runs' JSONs, sweep.json and sweep.png")
    p.add_argument("--slo-ttft-ms", type=float, default=500.0, help="p99 TTFT bound")
    p.add_argument("--slo-tpot-ms", type=float, default=50.0, help="p99 TPOT bound")
    p.add_argument("--max-failed-fraction", type=float, default=0.0)
    p.add_argument("--baseline", default=None,
                   help="a label: report each label's highest rate as a multiple of its")
    p.add_argument("--seconds-per-rate", type=float, default=None,
                   help="send rate x this many requests at each rate (at least --min-requests)"
                        " instead of the passed --num-requests, so that each run lasts about"
                        " as long")
    p.add_argument("--min-requests", type=int, default=20)
    p.add_argument("--stop-after-misses", type=int, default=0,
                   help="stop a target's sweep after this many rates in a row miss the SLO"
                        " (0: run every rate)")
    p.add_argument("--plot-only", action="store_true",
                   help="run nothing; summarise and plot the runs already in --out-dir")
    args = p.parse_args(argv)
    args.passthrough = passthrough
    args.targets = []
    for target in args.target:
        label, sep, url = target.partition("=")
        if not sep or not label or not url:
            raise UsageError(f"--target must be LABEL=URL, got {target!r}")
        args.targets.append((label, url))
    if not args.plot_only:
        if not args.targets:
            raise UsageError("give at least one --target (or --plot-only)")
        if not args.rates:
            raise UsageError("give --rates (or --plot-only)")
    args.rate_list = [_rate(r.strip()) for r in (args.rates or "").split(",") if r.strip()]
    return args


def run_file(out_dir, label, rate):
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", label) or "run"
    return os.path.join(out_dir, f"{safe}_rate-{rate:g}.json")


def run_sweep(args):
    script = os.path.join(HERE, "load_generator.py")
    for label, url in args.targets:
        misses = 0
        for rate in sorted(args.rate_list):
            path = run_file(args.out_dir, label, rate)
            print(f"{PROG}: {label} at {rate:g} req/s -> {path}", file=sys.stderr)
            command = [sys.executable, script, "--url", url, "--label", label,
                       "--request-rate", f"{rate:g}", "--slo-ttft-ms", f"{args.slo_ttft_ms:g}",
                       "--slo-tpot-ms", f"{args.slo_tpot_ms:g}", "--output", path]
            command += args.passthrough
            if args.seconds_per_rate is not None and not math.isinf(rate):
                count = max(args.min_requests, round(rate * args.seconds_per_rate))
                command += ["--num-requests", str(count)]  # the last one given wins
            code = subprocess.call(command)
            if code != 0:
                raise UsageError(f"load_generator failed for {label} at {rate:g} req/s "
                                 f"(exit {code}); the runs so far are in {args.out_dir}")
            with open(path) as f:
                ok = holds(json.load(f), args.slo_ttft_ms, args.slo_tpot_ms,
                           args.max_failed_fraction)[0]
            misses = 0 if ok else misses + 1
            if args.stop_after_misses and misses >= args.stop_after_misses:
                print(f"{PROG}: {label}: {misses} rates in a row miss the SLO; "
                      "its higher rates are skipped", file=sys.stderr)
                break


def load_runs(out_dir):
    runs = []
    for path in sorted(glob.glob(os.path.join(out_dir, "*.json"))):
        try:
            with open(path) as f:
                run = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(run, dict) and run.get("tool", "").endswith("load_generator.py"):
            runs.append(run)
    return runs


def rate_of(run):
    rate = run["request_rate"]
    return math.inf if rate == "inf" else float(rate)


def holds(run, slo_ttft_ms, slo_tpot_ms, max_failed_fraction=0.0):
    """(True/False, why) for one run against p99 bounds and a failure budget."""
    ttft, tpot = run["ttft_ms"]["p99"], run["tpot_ms"]["p99"]
    failed_fraction = run["failed"] / run["num_requests"] if run["num_requests"] else 1.0
    if failed_fraction > max_failed_fraction:
        return False, f"{run['failed']} of {run['num_requests']} failed"
    if ttft is None:
        return False, "no TTFT measured"
    if ttft > slo_ttft_ms:
        return False, f"p99 TTFT {ttft:.1f} ms > {slo_ttft_ms:g}"
    if tpot is not None and tpot > slo_tpot_ms:
        return False, f"p99 TPOT {tpot:.1f} ms > {slo_tpot_ms:g}"
    return True, "holds"


def max_rate_under_slo(runs, slo_ttft_ms, slo_tpot_ms, max_failed_fraction=0.0):
    """The highest rate of the unbroken run of holding rates from the lowest;
    None when the lowest rate already misses."""
    best = None
    for run in sorted(runs, key=rate_of):
        if not holds(run, slo_ttft_ms, slo_tpot_ms, max_failed_fraction)[0]:
            break
        best = rate_of(run)
    return best


def summarise(runs, slo_ttft_ms, slo_tpot_ms, max_failed_fraction=0.0, baseline=None):
    by_label = {}
    for run in runs:
        by_label.setdefault(run.get("label", ""), {})[rate_of(run)] = run
    labels = {}
    for label, by_rate in by_label.items():
        ordered = [by_rate[r] for r in sorted(by_rate)]
        rows = []
        for run in ordered:
            ok, why = holds(run, slo_ttft_ms, slo_tpot_ms, max_failed_fraction)
            rows.append({"request_rate": run["request_rate"], "p99_ttft_ms": run["ttft_ms"]["p99"],
                         "p99_tpot_ms": run["tpot_ms"]["p99"],
                         "request_throughput": run["request_throughput"],
                         "output_throughput": run["output_throughput"],
                         "completed": run["completed"], "failed": run["failed"],
                         "holds": ok, "why": why})
        best = max_rate_under_slo(ordered, slo_ttft_ms, slo_tpot_ms, max_failed_fraction)
        labels[label] = {"max_rate_under_slo": "inf" if best == math.inf else best, "runs": rows}
    summary = {"slo": {"p99_ttft_ms": slo_ttft_ms, "p99_tpot_ms": slo_tpot_ms,
                       "max_failed_fraction": max_failed_fraction},
               "labels": labels}
    if baseline is not None:
        base = labels.get(baseline, {}).get("max_rate_under_slo")
        summary["baseline"] = baseline
        summary["ratio_to_baseline"] = {
            label: (entry["max_rate_under_slo"] / base
                    if isinstance(base, float) and base > 0
                    and isinstance(entry["max_rate_under_slo"], float) else None)
            for label, entry in labels.items()}
    return summary


def plot(runs, summary, path):
    """Four panels against request rate: p99 TTFT and p99 TPOT (with their SLO
    lines; clipped at 4x the SLO), request throughput (with the offered rate)
    and output tokens/s. Runs at rate inf have no place on the axis and are left
    out."""
    labels = list(summary["labels"])
    by_label = {label: {} for label in labels}
    for run in runs:
        if not math.isinf(rate_of(run)):
            by_label[run.get("label", "")][rate_of(run)] = run
    xs = sorted({rate for runs_at in by_label.values() for rate in runs_at})
    if not xs:
        return False

    def series(pick):
        return [(label or "(no label)", [pick(by_label[label][x]) if x in by_label[label] else None
                                         for x in xs], PALETTE[i % len(PALETTE)])
                for i, label in enumerate(labels)]

    slo = summary["slo"]
    canvas = png_plot.Canvas(1200, 840)
    panels = [
        ("p99 ttft ms", series(lambda r: r["ttft_ms"]["p99"]), slo["p99_ttft_ms"]),
        ("p99 tpot ms", series(lambda r: r["tpot_ms"]["p99"]), slo["p99_tpot_ms"]),
        ("completed req/s", series(lambda r: r["request_throughput"]), None),
        ("output tok/s", series(lambda r: r["output_throughput"]), None),
    ]
    for index, (title, lines, bound) in enumerate(panels):
        box = ((index % 2) * 600, (index // 2) * 420, 600, 420)
        limit = None
        if bound is not None:
            lines = lines + [(f"slo {bound:g} ms", [bound] * len(xs), SLO_COLOR)]
            values = [y for _, ys, _ in lines for y in ys if y is not None]
            if max(values) > 4 * bound:
                limit, title = 4 * bound, f"{title} (clipped at {4 * bound:g})"
        elif title.startswith("completed"):
            lines = lines + [("offered", list(xs), SLO_COLOR)]
        png_plot.draw_line_plot(canvas, box, title, xs, lines, x_label="req/s offered",
                                log_x=False, y_limit=limit)
    with open(path, "wb") as f:
        f.write(canvas.png())
    return True


def _fmt(value, spec=".1f"):
    return "-" if value is None else format(value, spec)


def _rate_text(rate):
    if rate is None:
        return "none"
    return rate if isinstance(rate, str) else format(rate, "g")


def table(summary):
    lines = [f"{'label':<14}{'rate':>7}{'p99 TTFT':>10}{'p99 TPOT':>10}{'req/s':>8}"
             f"{'tok/s':>9}{'failed':>7}  verdict"]
    for label, entry in summary["labels"].items():
        for row in entry["runs"]:
            lines.append(f"{(label or '(no label)')[:13]:<14}{_rate_text(row['request_rate']):>7}"
                         f"{_fmt(row['p99_ttft_ms']):>10}{_fmt(row['p99_tpot_ms']):>10}"
                         f"{_fmt(row['request_throughput'], '.2f'):>8}"
                         f"{_fmt(row['output_throughput']):>9}{row['failed']:>7}  {row['why']}")
    for label, entry in summary["labels"].items():
        ratio = (summary.get("ratio_to_baseline") or {}).get(label)
        note = f" ({ratio:.2f}x {summary['baseline']})" if ratio is not None else ""
        best = entry["max_rate_under_slo"]
        lines.append(f"{label or '(no label)'}: highest rate under the SLO: {_rate_text(best)} req/s{note}")
    return "\n".join(lines)


def main(argv=None):
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        os.makedirs(args.out_dir, exist_ok=True)
        if not args.plot_only:
            run_sweep(args)
        runs = load_runs(args.out_dir)
        if not runs:
            raise UsageError(f"no load_generator runs in {args.out_dir}")
    except UsageError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1 if "load_generator failed" in str(e) else 2
    summary = summarise(runs, args.slo_ttft_ms, args.slo_tpot_ms, args.max_failed_fraction,
                        args.baseline)
    png = os.path.join(args.out_dir, "sweep.png")
    summary["plot"] = png if plot(runs, summary, png) else None
    with open(os.path.join(args.out_dir, "sweep.json"), "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    print(table(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
