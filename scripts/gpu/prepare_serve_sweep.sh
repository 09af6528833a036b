#!/usr/bin/env bash
# Prepares, here, issue 12's serving sweep on the GPU machine
# (benchmarks/serve/gpu_sweep.sh runs it there):
#
#   bash scripts/gpu/prepare_serve_sweep.sh
#   run(command="bash benchmarks/serve/gpu_sweep.sh", carry=[".carry/serve-sweep"])
#
# 1. SRC's bloom-serve, bloom-run and make-synthetic-checkpoint, built by
#    scripts/gpu/carry_build.sh (static Abseil and cudart) into CARRY/bin,
#    packed into CARRY/bin.tar.xz;
# 2. the 7b1 serving plan, compiled with COMPILE against a layout-only
#    replica (benchmarks/gpu/workload.sh's dtype, seed and shards, so that
#    the weights make-synthetic-checkpoint writes there match) into
#    CARRY/plans/7b1-serve: --max-sequences=64 (the saturation batch)
#    --max-seq-len=768 (prompts of 128-512 plus outputs of 64-256)
#    --max-batch-tokens=2048 (chunked prefill), checked to fit
#    --device-memory=135GiB (an H200's 141 GB less its CUDA context);
# 3. a tokenizer.json in the plan covering the model's whole vocabulary:
#    the embedded tiny model's, extended with one distinct word per id past
#    its 1,024, because bloom-serve streams a chunk only for a token that
#    has text, and random weights choose ids all over the 250,880;
# 4. CARRY/sweep.env: the workload the device script defaults to.
#
# --dry-run: the CPU backend and the tiny embedded model with small limits
# (CARRY .carry/serve-sweep-dry), then
#   OUT=/tmp/serve-sweep-dry CARRY=.carry/serve-sweep-dry bash benchmarks/serve/gpu_sweep.sh
# proves the device script's logic here.
#
# Environment: SRC (the tree to build, default this one), CARRY, BUILD
# (build/serve-carry; build/bench-runtime for --dry-run), COMPILE
# (build/default/bin/bloom-compile), MAX_SEQUENCES (64), MAX_SEQ_LEN (768),
# MAX_BATCH_TOKENS (2048), DEVICE_MEMORY (135GiB), JOBS (2), GPU_TESTS (the
# test binaries for the gpu_tests phase; default cuda_choose_tokens_test,
# empty for none).
set -euo pipefail
cd "$(dirname "$0")/../.."
DRY_RUN=0
[[ ${1:-} == --dry-run ]] && DRY_RUN=1
source benchmarks/gpu/workload.sh
src=${SRC:-$PWD}
compile=${COMPILE:-build/default/bin/bloom-compile}
config=$WORKLOAD_CONFIG
max_sequences=${MAX_SEQUENCES:-64}
max_seq_len=${MAX_SEQ_LEN:-768}
max_batch_tokens=${MAX_BATCH_TOKENS:-2048}
device_memory=${DEVICE_MEMORY:-135GiB}
if [[ $DRY_RUN -eq 1 ]]; then
  CARRY=${CARRY:-.carry/serve-sweep-dry}
  BUILD=${BUILD:-build/bench-runtime}
  export CUDA=OFF
  config=models/bloom/tiny-random/config.json
  max_sequences=${MAX_SEQUENCES:-8}
  max_seq_len=${MAX_SEQ_LEN:-128}
  max_batch_tokens=${MAX_BATCH_TOKENS:-64}
else
  CARRY=${CARRY:-.carry/serve-sweep}
  BUILD=${BUILD:-build/serve-carry}
fi
export TESTS=OFF BUILD
[[ -x $compile ]] || { echo "prepare_serve_sweep.sh: $compile: no bloom-compile (COMPILE=...)" >&2; exit 2; }

rm -rf "$CARRY"
mkdir -p "$CARRY/plans"
SRC=$src bash scripts/gpu/carry_build.sh "$CARRY/bin" bloom-serve bloom-run make-synthetic-checkpoint
# The GPU tests gpu_sweep.sh's gpu_tests phase runs (the same build
# directory, tests switched on: only their own objects are new).
gpu_tests=${GPU_TESTS-cuda_choose_tokens_test}
if [[ $DRY_RUN -eq 0 && -n $gpu_tests ]]; then
  # shellcheck disable=SC2086
  TESTS=ON SRC=$src bash scripts/gpu/carry_build.sh "$CARRY/bin" $gpu_tests
fi
# bloom-serve links Debian's shared cpp-httplib (its TLS/compression build
# fixes the header's layout, so it cannot be made static), which the GPU
# machine lacks: it travels in CARRY/lib with the brotli libraries it
# needs beyond what Ubuntu has; gpu_sweep.sh puts CARRY/lib on the path.
mkdir -p "$CARRY/lib"
for lib in $(ldd "$CARRY/bin/bloom-serve" | awk '/libcpp-httplib|libbrotli/ {print $3}'); do
  cp -L "$lib" "$CARRY/lib/"
done
for lib in $(ldd "$CARRY"/lib/libcpp-httplib* | awk '/libbrotli/ {print $3}'); do
  cp -L "$lib" "$CARRY/lib/"
done

plan=$CARRY/plans/7b1-serve
layout=/tmp/serve-sweep-layout/$(basename "$config" .json)
echo "== the serving plan: --max-sequences=$max_sequences --max-seq-len=$max_seq_len" \
  "--max-batch-tokens=$max_batch_tokens --device-memory=$device_memory"
rm -rf "$layout"
workload_layout "$CARRY/bin/make-synthetic-checkpoint" "$layout" "$config"
"$compile" --model="$layout" -o "$plan" --dtype="$WORKLOAD_DTYPE" --device-memory="$device_memory" \
  --max-sequences="$max_sequences" --max-seq-len="$max_seq_len" \
  --max-batch-tokens="$max_batch_tokens"

vocab=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["vocab_size"])' "$config")
echo "== tokenizer.json for $vocab ids"
python3 - models/bloom/tiny-random/tokenizer.json "$vocab" "$plan/tokenizer.json" <<'PY'
import json, sys

tokenizer = json.load(open(sys.argv[1]))
vocab = tokenizer["model"]["vocab"]
taken = set(vocab)
letters = "abcdefghijklmnopqrstuvwxyz"
for token_id in range(len(vocab), int(sys.argv[2])):
    word, n = "", token_id
    while True:
        word, n = letters[n % 26] + word, n // 26
        if n == 0:
            break
    text = "\u0120q" + word  # byte-level: " q<word>", distinct from the tiny vocabulary's
    assert text not in taken
    vocab[text] = token_id
with open(sys.argv[3], "w") as f:
    json.dump(tokenizer, f, ensure_ascii=False, separators=(",", ":"))
PY

cp "$config" "$CARRY/config.json"
rev=$(git -C "$src" rev-parse --short=12 HEAD)
git -C "$src" diff --quiet HEAD -- . 2>/dev/null || rev="$rev+uncommitted"
cat >"$CARRY/sweep.env" <<EOF
SWEEP_REV=$rev
SWEEP_DRY_RUN=$DRY_RUN
SWEEP_VOCAB=$vocab
SWEEP_MAX_SEQUENCES=$max_sequences
SWEEP_MAX_SEQ_LEN=$max_seq_len
SWEEP_MAX_BATCH_TOKENS=$max_batch_tokens
EOF
tar -C "$CARRY" -cJf "$CARRY/bin.tar.xz" bin && rm -rf "${CARRY:?}/bin"
size=$(du -sm "$CARRY" | cut -f1)
echo "== $CARRY: ${size} MiB"
find "$CARRY" -type f | sort
if ((size >= 64)); then
  echo "prepare_serve_sweep.sh: $CARRY is ${size} MiB; the device tool carries 64 MiB at most" >&2
  exit 1
fi
if [[ $DRY_RUN -eq 1 ]]; then
  echo "next: OUT=/tmp/serve-sweep-dry CARRY=$CARRY bash benchmarks/serve/gpu_sweep.sh"
else
  echo "next: run(command=\"bash benchmarks/serve/gpu_sweep.sh\", carry=[\"$CARRY\"])"
fi
