#!/usr/bin/env bash
# The main job on the embedded default model: install, build, compile the
# tiny BLOOM checkpoint that ships in models/bloom/tiny-random into a plan,
# and generate from it on the CPU backend.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
BIN=build/default/bin
PLAN=build/default/plans/tiny-random
MODEL=models/bloom/tiny-random

echo "== bloom-compile --model=$MODEL -o $PLAN"
"$BIN/bloom-compile" --model="$MODEL" -o "$PLAN"
echo "== bloom-run $PLAN --tokens=1,560,271,915,40 --max-new-tokens=20"
"$BIN/bloom-run" "$PLAN" --tokens=1,560,271,915,40 --max-new-tokens=20
