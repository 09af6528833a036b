#!/usr/bin/env bash
# The main job on the embedded default model: install, build, compile
# models/bloom/debian-small (a small BLOOM this project trained on Debian's
# multilingual documentation, with its tokenizer: see its README.md) into a
# plan, and continue a prompt in three of its languages on the CPU backend,
# greedy. test/e2e/trained_model_goldens.py checks that these continuations
# are transformers' own for the same model, token for token.
# (models/bloom/tiny-random, random weights, stays for the parity tests.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
BIN=build/default/bin
MODEL=models/bloom/debian-small
PLAN=build/default/plans/debian-small
PROMPTS=(
  "To install a new package on a Debian system,"
  "Pour installer un nouveau paquet sur un système Debian,"
  "要在 Debian 系统上安装一个新的软件包，"
)

echo "== $MODEL: a 13.7M-parameter BLOOM (3 layers, hidden 512, 8,192-token vocabulary)"
echo "== trained by this project on Debian's documentation in en, fr, es, pt, zh and vi"
echo "== bloom-compile --model=$MODEL -o $PLAN"
"$BIN/bloom-compile" --model="$MODEL" -o "$PLAN"
for prompt in "${PROMPTS[@]}"; do
  echo "== bloom-run $PLAN --prompt=\"$prompt\" --max-new-tokens=24 --echo"
  "$BIN/bloom-run" "$PLAN" --prompt="$prompt" --max-new-tokens=24 --echo
  echo
done
