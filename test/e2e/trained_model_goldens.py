"""The embedded default model (models/bloom/debian-small, trained by
models/bloom/debian-small/train.py) against the goldens transformers wrote
when it was trained (goldens.json): for each prompt, our tokenizer gives
transformers' prompt ids, the fp32 plan's greedy continuation (bloom-run
--tokens) is transformers' token for token, and text mode (bloom-run
--prompt, the path scripts/demo.sh takes) prints transformers' text. The
demo's own prompt is one of them, so the README's demo is checked here."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

FAILURES = []


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
    if not ok:
        FAILURES.append(name)


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        sys.exit(f"FAILED: {' '.join(cmd)}: {out.stderr}")
    return out.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--repo", required=True)
    args = parser.parse_args()
    model = os.path.join(args.repo, "models/bloom/debian-small")
    with open(os.path.join(model, "goldens.json"), encoding="utf-8") as f:
        goldens = json.load(f)
    greedy = goldens["greedy"]
    # The demo's prompts: the lines of its PROMPTS=( ... ) array.
    demo_prompts, inside = [], False
    with open(os.path.join(args.repo, "scripts/demo.sh"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("PROMPTS=("):
                inside = True
            elif inside and line.strip() == ")":
                inside = False
            elif inside:
                demo_prompts.append(line.strip().strip('"'))
    golden_prompts = [c["prompt"] for c in greedy["continuations"]]
    check("the demo's prompts are goldens' prompts",
          demo_prompts and all(p in golden_prompts for p in demo_prompts), demo_prompts)
    check("the demo asks for the goldens' length",
          f"--max-new-tokens={greedy['max_new_tokens']}" in open(
              os.path.join(args.repo, "scripts/demo.sh"), encoding="utf-8").read())
    with tempfile.TemporaryDirectory(prefix="debian-small-") as tmp:
        plan = os.path.join(tmp, "plan")
        run([os.path.join(args.bin, "bloom-compile"), f"--model={model}", "-o", plan])
        bloom_run = os.path.join(args.bin, "bloom-run")
        n = greedy["max_new_tokens"]
        for c in greedy["continuations"]:
            lang = c["lang"]
            ids = [int(t) for t in run([bloom_run, plan, "--tokens=" + ",".join(map(str, c["prompt_tokens"])),
                                        f"--max-new-tokens={n}"]).split()]
            check(f"{lang}: fp32 greedy ids equal transformers'", ids == c["generated_tokens"],
                  (ids, c["generated_tokens"]))
            # As the demo runs it (its --echo prints the prompt first).
            text = run([bloom_run, plan, f"--prompt={c['prompt']}", f"--max-new-tokens={n}"])
            check(f"{lang}: text mode prints transformers' continuation", text.rstrip("\n") == c["text"],
                  (text, c["text"]))
    if FAILURES:
        sys.exit(f"FAILED: {len(FAILURES)} check(s): {', '.join(FAILURES)}")
    print("all checks passed")


if __name__ == "__main__":
    main()
