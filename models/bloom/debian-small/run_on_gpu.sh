#!/usr/bin/env bash
# Trains debian-small on the GPU machine and puts what must be committed
# flat in $OUT (at most 8 files of at most 16 MiB each come back): the
# model shards, model.safetensors.index.json, config.json, tokenizer.json,
# goldens.json and train_log.txt.
#
# Run from the repository root through the device tool, with .carry/corpus
# (from build_corpus.py) carried:
#     bash models/bloom/debian-small/run_on_gpu.sh [TRAINING_SECONDS]   (default 240)
set -euo pipefail

here=models/bloom/debian-small
: "${OUT:?OUT must name the folder whose files come back}"
budget=${1:-240}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=true
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

python3 "$here/train.py" --corpus .carry/corpus --out "$work" --time-budget "$budget" \
  2>&1 | tee "$OUT/train_log.txt"

shopt -s nullglob
files=("$work"/model-*.safetensors "$work"/model.safetensors.index.json "$work"/config.json
       "$work"/tokenizer.json "$work"/goldens.json)
cp "${files[@]}" "$OUT/"
count=$(find "$OUT" -maxdepth 1 -type f | wc -l)
if (( count > 8 )); then
  echo "run_on_gpu.sh: $count files in \$OUT, more than the 8 that come back" >&2
  exit 1
fi
for f in "$OUT"/*; do
  if (( $(stat -c %s "$f") > 16 * 1024 * 1024 )); then
    echo "run_on_gpu.sh: $f is over 16 MiB and would not come back" >&2
    exit 1
  fi
done
ls -l "$OUT"
du -cb "$OUT"/model-*.safetensors "$OUT"/config.json "$OUT"/tokenizer.json | tail -1
