#!/usr/bin/env python3
"""Memory tiering end to end: weights streamed from host or disk give the
all-resident plan's logits exactly.

For one golden case (test/golden/cases/), this compiles the checkpoint three
times with the same flags: all weights resident, every weight unit forced to
the host tier (bloom-compile --offload=host) and to the disk tier
(--offload=disk, units in the plan directory's weight_units[.rank<R>].bin),
then runs bloom-run on the golden prompt with each plan on the CPU backend
and checks
  * the tiered plans really stream (--bench reports bytes streamed per step;
    the resident plan reports none; skipped with --no-bench) and the disk
    plan has its units file,
  * the greedy tokens are identical to the resident plan's (and to
    transformers' golden tokens for the fp32 policy), and
  * the dumped logits (every prompt row and every generated row) are bit for
    bit the resident plan's: the same .npy bytes.
Only the Python standard library is used, so it runs wherever CTest does.
"""
import argparse
import json
import os
import sys
import tempfile

from e2e_util import load_golden, run



def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--case", required=True, help="golden case directory")
    parser.add_argument("--bin", required=True, help="directory holding bloom-compile and bloom-run")
    parser.add_argument("--repo", required=True,
                        help="repository root; a case's optional checkpoint_dir is relative to it")
    parser.add_argument("--compile-flag", action="append", default=[],
                        help="extra bloom-compile flag for all three plans (repeatable)")
    parser.add_argument("--no-bench", action="store_true",
                        help="skip the streamed-bytes check")
    args = parser.parse_args()

    golden, model = load_golden(args.case, args.repo)
    prompt = golden["prompt_tokens"]
    new_tokens = golden["max_new_tokens"]
    compile_tool = os.path.join(args.bin, "bloom-compile")
    run_tool = os.path.join(args.bin, "bloom-run")

    with tempfile.TemporaryDirectory(prefix="bloom-tier-") as tmp:
        results = {}
        for tier in ("resident", "host", "disk"):
            plan_dir = os.path.join(tmp, tier)
            tier_flags = [] if tier == "resident" else [f"--offload={tier}"]
            run([compile_tool, f"--model={model}", "-o", plan_dir, *args.compile_flag, *tier_flags])
            # weight_units.bin, or weight_units.rank<R>.bin per rank.
            units_files = [n for n in os.listdir(plan_dir) if n.startswith("weight_units")]
            if (tier == "disk") != bool(units_files):
                sys.exit(f"FAILED: {tier} plan: weight_units file "
                         f"{'missing' if tier == 'disk' else 'written for a plan without disk units'}")
            logits = os.path.join(tmp, f"{tier}.npy")
            out = run([run_tool, plan_dir, "--tokens=" + ",".join(map(str, prompt)),
                       f"--max-new-tokens={new_tokens}", f"--dump-logits={logits}"])
            tokens = [int(t) for t in out.split()]
            streamed = None
            if not args.no_bench:
                bench = json.loads(run([run_tool, plan_dir, "--bench", "--batch=1", "--prompt-len=4",
                                        "--max-new-tokens=2", "--warmup=0"]).strip().splitlines()[-1])
                streamed = bench["weight_bytes_streamed_per_step"]
            with open(logits, "rb") as f:
                results[tier] = (tokens, f.read(), streamed)
            print(f"{tier:>8}: tokens {tokens}; {streamed} weight bytes streamed per step")

        resident_tokens, resident_logits, resident_streamed = results["resident"]
        if resident_streamed not in (0, None):
            sys.exit("FAILED: the resident plan streams weights")
        if not args.compile_flag and resident_tokens != golden["generated_tokens"]:
            sys.exit(f"FAILED: resident tokens differ from transformers' {golden['generated_tokens']}")
        for tier in ("host", "disk"):
            tokens, logits, streamed = results[tier]
            if streamed is not None and streamed <= 0:
                sys.exit(f"FAILED: the --offload={tier} plan streams no weights")
            if tokens != resident_tokens:
                sys.exit(f"FAILED: --offload={tier} tokens differ from the resident plan's")
            if logits != resident_logits:
                sys.exit(f"FAILED: --offload={tier} logits are not bit for bit the resident plan's")
    print("PASSED")


if __name__ == "__main__":
    main()
