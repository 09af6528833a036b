#!/usr/bin/env bash
# The main job on the embedded default model: install, build, compile the
# tiny BLOOM checkpoint that ships in models/bloom/tiny-random (with its
# tokenizer) into a plan, and generate text from a text prompt on the CPU
# backend. The checkpoint's weights are random, so the continuation is
# gibberish by construction; the point is the pipeline (text -> tokenizer ->
# compiled plan -> scheduler and sampler -> streamed text), which
# test/e2e/cli_text.py checks against transformers' output for the same
# model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
BIN=build/default/bin
PLAN=build/default/plans/tiny-random
MODEL=models/bloom/tiny-random
PROMPT="The quick brown fox jumps over the lazy dog."

echo "== bloom-compile --model=$MODEL -o $PLAN"
"$BIN/bloom-compile" --model="$MODEL" -o "$PLAN"
echo "== bloom-run $PLAN --prompt=\"$PROMPT\" --max-new-tokens=20 --echo"
echo "== (models/bloom/tiny-random has random weights: the generated text is gibberish by design)"
"$BIN/bloom-run" "$PLAN" --prompt="$PROMPT" --max-new-tokens=20 --echo
