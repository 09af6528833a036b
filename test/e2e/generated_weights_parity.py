#!/usr/bin/env python3
"""Generated weights end to end: a layout-only synthetic checkpoint (values
made from the seed in its headers as they are read) runs exactly as the full
write of the same seed.

make-synthetic-checkpoint writes the same model twice, in full and
--layout-only (sparse data sections, the generator in the headers). Each
plan below is compiled against each of the two, and bloom-run's greedy
tokens and dumped logits (every prompt and generated row) must be the same
bytes for both:
  * tp=1, resident weights;
  * tp=2 (a thread per rank; each rank generates only its slices);
  * tp=2 --pack-weights (bloom-compile writes each rank's file: its bytes
    must equal those packed from the full checkpoint);
  * --offload=disk (bloom-compile writes the weight units file: its bytes
    must equal the full checkpoint's).
A plan compiled against the layout and run with --checkpoint-dir pointing
at the full write gives the same bytes again. Standard library only.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

from e2e_util import run

CONFIG = {"model_type": "bloom", "vocab_size": 1024, "hidden_size": 64, "n_head": 4,
          "n_layer": 2, "layer_norm_epsilon": 1e-5, "eos_token_id": 2}
PROMPT = "5,77,300,12,999,4,61"
NEW_TOKENS = "6"

VARIANTS = {
    "tp1": [],
    "tp2": ["--tp=2"],
    "tp2-packed": ["--tp=2", "--pack-weights"],
    "disk": ["--offload=disk"],
}


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin", required=True, help="directory holding the tools")
    parser.add_argument("--dtype", default="bf16", help="stored precision of the checkpoints")
    args = parser.parse_args()
    tool = lambda name: os.path.join(args.bin, name)

    with tempfile.TemporaryDirectory(prefix="bloom-generated-") as tmp:
        config = os.path.join(tmp, "config.json")
        with open(config, "w") as f:
            json.dump(CONFIG, f)
        checkpoints = {}
        for kind, flags in (("full", []), ("layout", ["--layout-only"])):
            checkpoints[kind] = os.path.join(tmp, kind)
            run([tool("make-synthetic-checkpoint"), f"--config={config}", "-o", checkpoints[kind],
                 f"--dtype={args.dtype}", "--seed=5", "--max-shard-bytes=60000", *flags])

        for variant, flags in VARIANTS.items():
            results = {}
            for kind, checkpoint in checkpoints.items():
                plan = os.path.join(tmp, f"{variant}-{kind}")
                run([tool("bloom-compile"), f"--model={checkpoint}", "-o", plan, *flags])
                logits = plan + ".npy"
                tokens = run([tool("bloom-run"), plan, f"--tokens={PROMPT}",
                              f"--max-new-tokens={NEW_TOKENS}", f"--dump-logits={logits}"]).split()
                written = {name: read(os.path.join(plan, name)) for name in sorted(os.listdir(plan))
                           if name.endswith(".safetensors") or name.startswith("weight_units")}
                results[kind] = (tokens, read(logits), written)
            (full_tokens, full_logits, full_files), (tokens, logits, files) = (
                results["full"], results["layout"])
            print(f"{variant}: tokens {' '.join(tokens)}; files written {sorted(files)}")
            if tokens != full_tokens:
                sys.exit(f"FAILED: {variant}: generated-weight tokens {tokens} differ from the "
                         f"full checkpoint's {full_tokens}")
            if logits != full_logits:
                sys.exit(f"FAILED: {variant}: generated-weight logits are not the full "
                         "checkpoint's bytes")
            if files != full_files:
                sys.exit(f"FAILED: {variant}: the files bloom-compile wrote differ "
                         f"({sorted(files)} vs {sorted(full_files)})")
            if ("packed" in variant or variant == "disk") and not files:
                sys.exit(f"FAILED: {variant}: bloom-compile wrote no weight file")

        # bloom-run says where the weights came from: on stderr, and in --bench.
        for kind, expected in (("full", ("stored", None)), ("layout", ("generated", 5))):
            bench = json.loads(run([tool("bloom-run"), os.path.join(tmp, f"tp1-{kind}"), "--bench",
                                    "--batch=1", "--prompt-len=4", "--max-new-tokens=2",
                                    "--warmup=0"]).strip().splitlines()[-1])
            if (bench["weights"], bench["weights_seed"]) != expected:
                sys.exit(f"FAILED: --bench on the {kind} checkpoint says weights "
                         f"{bench['weights']}, seed {bench['weights_seed']}; expected {expected}")
        note = subprocess.run([tool("bloom-run"), os.path.join(tmp, "tp1-layout"), f"--tokens={PROMPT}",
                               "--max-new-tokens=1"], capture_output=True, text=True)
        if "weights are generated from seed 5" not in note.stderr:
            sys.exit(f"FAILED: no note on stderr that the weights are generated: {note.stderr!r}")

        # The layout's plan, pointed at the full write instead.
        logits = os.path.join(tmp, "tp1-layout-on-full.npy")
        tokens = run([tool("bloom-run"), os.path.join(tmp, "tp1-layout"),
                      f"--checkpoint-dir={checkpoints['full']}", f"--tokens={PROMPT}",
                      f"--max-new-tokens={NEW_TOKENS}", f"--dump-logits={logits}"]).split()
        if read(logits) != read(os.path.join(tmp, "tp1-full.npy")):
            sys.exit("FAILED: the layout's plan on the full checkpoint gives other logits")
    print("PASSED")


if __name__ == "__main__":
    main()
