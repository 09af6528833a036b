#!/usr/bin/env python3
"""Pipeline micro-batching on the CPU backend: a pp=M plan's throughput with
the engine keeping M steps in flight against the same plan one step at a
time (bloom-run --bench --max-steps-in-flight=1), side by side in one run.

What micro-batching is for: with one step at a time only one stage works
while the others wait, so a pipeline of M balanced stages runs at 1/M of
its devices; with M steps over disjoint sequences in flight every stage
works at once. The ceiling is therefore M times the one-at-a-time rate
(every stage busy, no bubble), printed beside the measurement. Each stage
computes on one thread (OMP_NUM_THREADS=1), as each stage of a real
deployment has its own device; with OpenMP over every core the two stages
would share the same cores and the comparison would measure contention.

The model is a layout-only synthetic checkpoint (make-synthetic-checkpoint:
values from a seed, no weights on disk) of 8 layers, hidden 512, vocabulary
2048, so that the LM head is small beside the layers and the stages are
balanced. Both launches are measured: a thread per stage in one process,
and (when mpirun is there) a process per stage, `mpirun -np M`, with
OpenMPI told to yield while it waits (mpi_yield_when_idle: a process busy-
polling for the next stage's message would take the core its neighbour
computes on). Prints one JSON object; --out writes it too. Standard library
only.

  python3 benchmarks/pipeline/micro_batching.py --bin=build/default/bin [--pp=2] [--batch=16]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile


def run(cmd, env=None):
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"FAILED: {' '.join(cmd)}\n{done.stderr}")
    return done.stdout


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="directory of bloom-compile, bloom-run, ...")
    parser.add_argument("--pp", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--prompt-len", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--mpirun", default=shutil.which("mpirun") or "")
    parser.add_argument("--out", default="")
    args = parser.parse_args()

    tool = lambda name: os.path.join(args.bin, name)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    with tempfile.TemporaryDirectory(prefix="bloom-pp-bench-") as tmp:
        with open(os.path.join(repo, "models/bloom/presets/bloom-560m.json")) as f:
            config = json.load(f)
        config.update(n_layer=args.layers, hidden_size=512, n_head=8, vocab_size=2048)
        config_path = os.path.join(tmp, "config.json")
        with open(config_path, "w") as f:
            json.dump(config, f)
        model = os.path.join(tmp, "model")
        run([tool("make-synthetic-checkpoint"), f"--config={config_path}", "-o", model,
             "--layout-only", "--dtype=f32"])
        plan = os.path.join(tmp, "plan")
        run([tool("bloom-compile"), f"--model={model}", "-o", plan, f"--pp={args.pp}",
             f"--max-sequences={args.batch}", f"--max-logit-rows={args.batch}"])
        with open(os.path.join(plan, "report.json")) as f:
            stages = [s["layers"] for s in json.load(f)["pipeline"]["stages"]]
        bench = [tool("bloom-run"), plan, "--bench", f"--batch={args.batch}",
                 f"--prompt-len={args.prompt_len}", f"--max-new-tokens={args.new_tokens}"]
        launches = {"threads": []}
        if args.mpirun:
            launches["mpirun"] = [args.mpirun, "--oversubscribe", "--allow-run-as-root",
                                  "--mca", "mpi_yield_when_idle", "1", "-x", "OMP_NUM_THREADS",
                                  "-np", str(args.pp)]
        measured = {}
        for launch, prefix in launches.items():
            results = {}
            for in_flight in (1, args.pp):
                results[in_flight] = json.loads(
                    run([*prefix, *bench, f"--max-steps-in-flight={in_flight}"], env))
            one = results[1]["output_tokens_per_s"]
            many = results[args.pp]["output_tokens_per_s"]
            measured[launch] = {
                "device": results[1]["device"],
                "one_step_at_a_time_tokens_per_s": one,
                "micro_batched_tokens_per_s": many,
                "speedup": round(many / one, 3) if one else None,
                "one_step_at_a_time_total_ms": results[1]["total_ms"],
                "micro_batched_total_ms": results[args.pp]["total_ms"],
            }
        report = {
            "benchmark": "pipeline micro-batching (CPU backend, a thread per stage)",
            "model": f"synthetic: {args.layers} layers, hidden 512, vocab 2048, f32",
            "pp": args.pp,
            "stage_layers": stages,
            "batch": args.batch,
            "prompt_len": args.prompt_len,
            "new_tokens": args.new_tokens,
            "ceiling_speedup": args.pp,
            "cpus": os.cpu_count(),
            "load_average_1min": os.getloadavg()[0],
            "launches": measured,
        }
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
