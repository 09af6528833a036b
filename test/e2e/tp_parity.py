#!/usr/bin/env python3
"""Tensor- and pipeline-parallel plans of a golden case against its tp=1 plan.

Compiles the case at tp=1 and at each requested mesh (bloom-compile --tp=N,
or --pp=M --tp=N for --mesh=MxN), runs greedy generation with bloom-run (a
thread per rank in one process), and, when mpirun is present, again with
`mpirun -np M*N bloom-run` (a rank per process); every run must produce tp=1's
greedy tokens exactly and all P + N - 1 logit rows within --atol
(npy-diff). The fp32 policy is used: in
bf16 the partial sums of row-parallel layers are rounded before the
all-reduce, as Megatron and DeepSpeed do, so tp=N legitimately differs from
tp=1 by rounding there. Standard library only.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from e2e_util import load_golden, run



def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--case", required=True)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--repo", required=True)
    parser.add_argument("--tp", default="", help="comma-separated rank counts, e.g. 2,4")
    parser.add_argument("--mesh", default="",
                        help="comma-separated pipeline meshes PPxTP, e.g. 2x1,3x1,2x2")
    parser.add_argument("--atol", default="1e-4")
    parser.add_argument("--compile-flag", action="append", default=[])
    parser.add_argument("--mpirun", default=shutil.which("mpirun") or "")
    args = parser.parse_args()

    golden, model = load_golden(args.case, args.repo)
    tokens = "--tokens=" + ",".join(map(str, golden["prompt_tokens"]))
    new = f"--max-new-tokens={golden['max_new_tokens']}"
    compile_ = os.path.join(args.bin, "bloom-compile")
    bloom_run = os.path.join(args.bin, "bloom-run")
    npy_diff = os.path.join(args.bin, "npy-diff")

    with tempfile.TemporaryDirectory(prefix="bloom-tp-") as tmp:
        base_plan = os.path.join(tmp, "tp1")
        run([compile_, f"--model={model}", "-o", base_plan, *args.compile_flag])
        base_logits = os.path.join(tmp, "tp1.npy")
        base_tokens = run([bloom_run, base_plan, tokens, new, f"--dump-logits={base_logits}"]).split()
        print(f"tp=1: {' '.join(base_tokens)}")
        meshes = [(1, int(n)) for n in args.tp.split(",") if n]
        meshes += [tuple(int(x) for x in m.split("x")) for m in args.mesh.split(",") if m]
        if not meshes:
            sys.exit("give --tp and/or --mesh")
        for pp, n in meshes:
            name = f"tp={n}" if pp == 1 else f"pp={pp} tp={n}"
            plan = os.path.join(tmp, f"pp{pp}tp{n}")
            run([compile_, f"--model={model}", "-o", plan, f"--tp={n}",
                 *([f"--pp={pp}"] if pp > 1 else []), *args.compile_flag])
            launches = [("threads", [bloom_run, plan])]
            if args.mpirun:
                launches.append(("mpirun", [args.mpirun, "--oversubscribe", "--allow-run-as-root",
                                            "-np", str(pp * n), bloom_run, plan]))
            else:
                print(f"{name} mpirun: SKIPPED (mpirun not found)")
            for how, cmd in launches:
                logits = os.path.join(tmp, f"pp{pp}tp{n}-{how}.npy")
                got = run([*cmd, tokens, new, f"--dump-logits={logits}"]).split()
                diff = subprocess.run([npy_diff, logits, base_logits, f"--atol={args.atol}"],
                                      capture_output=True, text=True)
                print(f"{name} {how}: {' '.join(got)}; {diff.stdout.strip()}")
                if got != base_tokens:
                    sys.exit(f"FAILED: {name} ({how}) greedy tokens differ from tp=1")
                if diff.returncode != 0:
                    sys.exit(f"FAILED: {name} ({how}) logits differ from tp=1 beyond {args.atol}")
    print("PASSED")


if __name__ == "__main__":
    main()
