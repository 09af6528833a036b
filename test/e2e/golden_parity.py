#!/usr/bin/env python3
"""End-to-end parity against Hugging Face transformers' goldens.

For one case directory under test/golden/cases/ (a checkpoint written by
transformers plus golden.json and logits.npy from transformers' fp32
forward), this compiles the checkpoint with bloom-compile, runs bloom-run on
the golden prompt, and checks that
  * the greedy tokens equal transformers' exactly, and
  * every one of the P + N - 1 logit rows is within --atol of transformers'
    (npy-diff does the numeric comparison).
Only the Python standard library is used, so it runs wherever CTest does.
"""
import argparse
import os
import subprocess
import sys
import tempfile

from e2e_util import load_golden, run



def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--case", required=True, help="golden case directory")
    parser.add_argument("--bin", required=True, help="directory holding bloom-compile, bloom-run, npy-diff")
    parser.add_argument("--repo", required=True,
                        help="repository root; a case's optional checkpoint_dir is relative to it")
    parser.add_argument("--atol", default="1e-3")
    parser.add_argument("--compile-flag", action="append", default=[],
                        help="extra bloom-compile flag (repeatable)")
    args = parser.parse_args()

    golden, model = load_golden(args.case, args.repo)
    prompt = golden["prompt_tokens"]
    expected = golden["generated_tokens"]
    new_tokens = golden["max_new_tokens"]
    # A case either holds its checkpoint or names one elsewhere in the repo
    # (the embedded default model).

    with tempfile.TemporaryDirectory(prefix="bloom-golden-") as tmp:
        plan_dir = os.path.join(tmp, "plan")
        run([os.path.join(args.bin, "bloom-compile"), f"--model={model}", "-o", plan_dir,
             *args.compile_flag])
        logits = os.path.join(tmp, "logits.npy")
        out = run([os.path.join(args.bin, "bloom-run"), plan_dir,
                   "--tokens=" + ",".join(map(str, prompt)),
                   f"--max-new-tokens={new_tokens}", f"--dump-logits={logits}"])
        got = [int(t) for t in out.split()]
        print(f"prompt {len(prompt)} tokens; expected {expected}\n{'':>20}got      {got}")
        if got != expected:
            sys.exit("FAILED: greedy tokens differ from transformers'")
        diff = subprocess.run([os.path.join(args.bin, "npy-diff"), logits,
                               os.path.join(args.case, golden["logits_file"]),
                               f"--atol={args.atol}"], capture_output=True, text=True)
        print(diff.stdout.strip(), diff.stderr.strip())
        if diff.returncode != 0:
            sys.exit("FAILED: logits differ from transformers' beyond the tolerance")
    print("PASSED")


if __name__ == "__main__":
    main()
