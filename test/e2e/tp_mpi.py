#!/usr/bin/env python3
"""Tensor and pipeline parallelism across processes: the hand-written test model
(test/unit/comm/tp_test_model.h) run by `mpirun -np N` (a rank per process)
and by a thread per rank in one process.

Checks, against tp=1 run in one process and the model's direct reference:
  - tp=2 and tp=4 under mpirun give tp=1's logits within 1e-5 and the same
    greedy tokens, and the same bits as the threaded group (both sum in rank
    order);
  - tp=1's logits are the direct reference's within 1e-3;
  - pipeline stages (layer 0 | layer 1): pp=2 under `mpirun -np 2` and by
    threads gives tp=1's logits bit for bit, pp=2 x tp=2 under `mpirun -np
    4` and by threads within 1e-5 of tp=1 and the same bits as each other;
  - a pp=2 directory started with 3 processes, and a pp=2 x tp=2 directory
    whose stage 0 rank 1 fails in its first step (while stage 1 waits for
    its hidden state) end every process, naming the rank and the stage;
  - a tp=2 directory started with 3 processes, a rank whose checkpoint is
    missing, and a rank that fails in its first step each end every process
    with a non-zero exit and a message naming the rank and the cause, within
    a bounded time (no hang).
Exits 77 (CTest's SKIP_RETURN_CODE) with a SKIPPED line when mpirun is
missing. Python standard library only.
"""
import argparse
import array
import os
import shutil
import subprocess
import sys
import tempfile

VOCAB = 36
TIMEOUT_S = 60


def read_rows(path):
    values = array.array("f")
    with open(path, "rb") as f:
        values.frombytes(f.read())
    return [values[i:i + VOCAB] for i in range(0, len(values), VOCAB)]


def max_diff(a, b):
    assert len(a) == len(b), f"{len(a)} rows vs {len(b)}"
    return max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))


def argmax(row):
    return max(range(len(row)), key=lambda i: row[i])


def run(cmd, expect_ok=True):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=TIMEOUT_S)
    if expect_ok and proc.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}")
    return proc


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True, help="bloom-tp-test-tool")
    parser.add_argument("--mpirun", default=shutil.which("mpirun") or "")
    args = parser.parse_args()
    if not args.mpirun or not os.path.exists(args.mpirun):
        print("SKIPPED: mpirun not found (apt-get install openmpi-bin)")
        return 77
    mpirun = [args.mpirun, "--oversubscribe", "--allow-run-as-root"]
    failures = []
    with tempfile.TemporaryDirectory(prefix="bloom-tp-mpi-") as tmp:
        run([args.tool, "make", tmp])
        out = lambda name: os.path.join(tmp, name + ".f32")
        run([args.tool, "run", os.path.join(tmp, "tp1"), out("tp1")])
        base = read_rows(out("tp1"))
        ref = read_rows(os.path.join(tmp, "reference.f32"))
        if max_diff(base, ref) > 1e-3:
            failures.append(f"tp=1 differs from the direct reference by {max_diff(base, ref):.3g}")
        for tp in (2, 4):
            plan_dir = os.path.join(tmp, f"tp{tp}")
            run([args.tool, "run", plan_dir, out(f"threads{tp}")])
            run(mpirun + ["-np", str(tp), args.tool, "run", plan_dir, out(f"mpi{tp}")])
            threads, mpi = read_rows(out(f"threads{tp}")), read_rows(out(f"mpi{tp}"))
            diff = max_diff(mpi, base)
            print(f"tp={tp}: mpirun vs tp=1 max |diff| {diff:.3g}")
            if diff > 1e-5:
                failures.append(f"tp={tp} under mpirun differs from tp=1 by {diff:.3g}")
            if [argmax(r) for r in mpi] != [argmax(r) for r in base]:
                failures.append(f"tp={tp} under mpirun picks other greedy tokens than tp=1")
            with open(out(f"threads{tp}"), "rb") as a, open(out(f"mpi{tp}"), "rb") as b:
                if a.read() != b.read():
                    failures.append(f"tp={tp}: mpirun and threads differ in bits")

        for name, n, bound in (("pp2", 2, 0.0), ("pp2tp2", 4, 1e-5)):
            plan_dir = os.path.join(tmp, name)
            run([args.tool, "run", plan_dir, out(f"threads-{name}")])
            run(mpirun + ["-np", str(n), args.tool, "run", plan_dir, out(f"mpi-{name}")])
            threads, mpi = read_rows(out(f"threads-{name}")), read_rows(out(f"mpi-{name}"))
            diff = max_diff(mpi, base)
            print(f"{name}: mpirun vs tp=1 max |diff| {diff:.3g}, threads {max_diff(threads, base):.3g}")
            if diff > bound or max_diff(threads, base) > bound:
                failures.append(f"{name} differs from tp=1 by {diff:.3g} (mpirun), "
                                f"{max_diff(threads, base):.3g} (threads); bound {bound}")
            if [argmax(r) for r in mpi] != [argmax(r) for r in base]:
                failures.append(f"{name} under mpirun picks other greedy tokens than tp=1")
            with open(out(f"threads-{name}"), "rb") as a, open(out(f"mpi-{name}"), "rb") as b:
                if a.read() != b.read():
                    failures.append(f"{name}: mpirun and threads differ in bits")

        def expect_failure(name, cmd, *needles):
            try:
                proc = run(cmd, expect_ok=False)
            except subprocess.TimeoutExpired:
                failures.append(f"{name}: still running after {TIMEOUT_S} s (a hang)")
                return
            missing = [n for n in needles if n not in proc.stdout]
            if proc.returncode == 0 or missing:
                failures.append(f"{name}: exit {proc.returncode}, missing {missing} in:\n{proc.stdout}")
            else:
                print(f"{name}: refused as expected")

        expect_failure("tp=2 plan on 3 processes",
                       mpirun + ["-np", "3", args.tool, "run", os.path.join(tmp, "tp2"), out("x")],
                       "the plan is for tp=2 but was started with 3 rank(s)")
        expect_failure("rank 1 without its checkpoint",
                       mpirun + ["-np", "2", args.tool, "run", os.path.join(tmp, "missing-checkpoint"), out("x")],
                       "rank 1: /nonexistent/bloom-checkpoint/model.safetensors")
        expect_failure("rank 1 failing mid-step",
                       mpirun + ["-np", "2", args.tool, "run", os.path.join(tmp, "fails-mid-step"), out("x"),
                                 "--bad-first-token"],
                       "rank 1: instruction 0 (EmbeddingGather", "token id 20")
        expect_failure("pp=2 plan on 3 processes",
                       mpirun + ["-np", "3", args.tool, "run", os.path.join(tmp, "pp2"), out("x")],
                       "is for pp=2 x tp=1 = 2 ranks but was started with 3")
        expect_failure("pipeline stage 0 rank 1 failing mid-step",
                       mpirun + ["-np", "4", args.tool, "run", os.path.join(tmp, "pp-fails-mid-step"),
                                 out("x"), "--bad-first-token"],
                       "rank 1: pipeline stage 0, tp rank 1: instruction 0 (EmbeddingGather",
                       "token id 20")
        expect_failure("pipeline stage 0 rank 1 failing mid-step (threads)",
                       [args.tool, "run", os.path.join(tmp, "pp-fails-mid-step"), out("x"),
                        "--bad-first-token"],
                       "pipeline stage 0: rank 1: instruction 0 (EmbeddingGather", "token id 20")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
