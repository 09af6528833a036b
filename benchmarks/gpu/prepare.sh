#!/usr/bin/env bash
# Prepares, on the development machine, everything the GPU benchmark carries
# (the GPU machine has no MLIR, no Abseil, and no room to send 14 GB to):
#
#   1. bloom-run and make-synthetic-checkpoint, runtime only, Abseil linked
#      statically (benchmarks/gpu/cmake/absl), into CARRY/bin;
#   2. a layout-only replica of the benchmark checkpoint: the same
#      make-synthetic-checkpoint command the GPU machine will run, with
#      --layout-only, so the safetensors files have the real headers and
#      sizes but are sparse holes here (no disk, no time);
#   3. the two plans compiled against that replica with bloom-compile:
#      plans/decode (128 sequence slots, prompt + new tokens each, a
#      batch-128 prefill in one step) and plans/prefill (one slot of 2048+
#      positions), because one plan with both would reserve a KV cache of
#      128 x 2048 positions (132 GB in bf16). bloom-run there points them at
#      the real weights with --checkpoint-dir;
#   4. CARRY/config.json and CARRY/bench.env (the workload both sides read).
#
# Then one call of the device tool runs it all (see docs/benchmarks.md):
#   run(command="bash benchmarks/gpu/run_benchmark.sh", carry=[".carry/bench"])
#
# Usage: benchmarks/gpu/prepare.sh [--dry-run]
#   --dry-run: the tiny model on the CPU backend, for checking the scripts
#   here (then: benchmarks/gpu/run_benchmark.sh --dry-run .carry/bench-dry).
# Environment: CONFIG (model config.json), CARRY, RUNTIME_BUILD (static
# runtime build dir), RUNTIME_CMAKE_ARGS (its extra CMake flags; the CUDA
# backend is ON for the GPU run, OFF for --dry-run), COMPILER_BUILD (a build dir with bloom-compile; built if
# missing), PLAN_DTYPE (bloom-compile --dtype), DEVICE_MEMORY (bloom-compile
# --device-memory; default 76GiB: an H100's 80 GB less the CUDA context),
# JOBS.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

DRY_RUN=0
[[ ${1:-} == --dry-run ]] && DRY_RUN=1
JOBS=${JOBS:-2}
SEED=${SEED:-0}
DTYPE=bf16
MAX_SHARD_BYTES=${MAX_SHARD_BYTES:-0}
if [[ $DRY_RUN -eq 1 ]]; then
  CONFIG=${CONFIG:-models/bloom/tiny-random/config.json}
  CARRY=${CARRY:-.carry/bench-dry}
  BACKEND=cpu
  BATCHES=${BATCHES:-1,2,4}
  PROMPT_LEN=${PROMPT_LEN:-8}
  NEW_TOKENS=${NEW_TOKENS:-6}
  TTFT_PROMPTS=${TTFT_PROMPTS:-32,64}
  PLAN_DTYPE=${PLAN_DTYPE:-fp32}
  RUNTIME_CMAKE_ARGS=${RUNTIME_CMAKE_ARGS:--DBLOOM_ENABLE_CUDA=OFF}
else
  CONFIG=${CONFIG:-models/bloom/presets/bloom-7b1.json}
  CARRY=${CARRY:-.carry/bench}
  BACKEND=cuda
  BATCHES=${BATCHES:-1,8,32,64,128}
  PROMPT_LEN=${PROMPT_LEN:-32}
  NEW_TOKENS=${NEW_TOKENS:-100}
  TTFT_PROMPTS=${TTFT_PROMPTS:-512,2048}
  PLAN_DTYPE=${PLAN_DTYPE:-bf16}
  RUNTIME_CMAKE_ARGS=${RUNTIME_CMAKE_ARGS:--DBLOOM_ENABLE_CUDA=ON}
fi
RUNTIME_BUILD=${RUNTIME_BUILD:-build/bench-runtime}
COMPILER_BUILD=${COMPILER_BUILD:-build/default}
# The replica's directory name becomes the plan's model name.
MODEL_NAME=$(basename "$CONFIG" .json)
[[ $MODEL_NAME == config ]] && MODEL_NAME=$(basename "$(dirname "$CONFIG")")
LAYOUT=${LAYOUT:-/tmp/bloom-bench-layout/$MODEL_NAME}

[[ -f $CONFIG ]] || { echo "prepare.sh: $CONFIG: no such config" >&2; exit 2; }

echo "== runtime (static Abseil) in $RUNTIME_BUILD"
cmake -S . -B "$RUNTIME_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DBLOOM_ENABLE_COMPILER=OFF -DBLOOM_ENABLE_TESTS=OFF \
  -Dabsl_DIR="$ROOT/benchmarks/gpu/cmake/absl" $RUNTIME_CMAKE_ARGS >/dev/null
ninja -C "$RUNTIME_BUILD" -j"$JOBS" bloom-run make-synthetic-checkpoint
if ldd "$RUNTIME_BUILD/bin/bloom-run" | grep -q absl; then
  echo "prepare.sh: bloom-run still links a shared Abseil" >&2
  exit 1
fi

echo "== bloom-compile in $COMPILER_BUILD"
if [[ ! -f $COMPILER_BUILD/build.ninja ]]; then
  cmake -S . -B "$COMPILER_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBLOOM_ENABLE_CUDA=OFF >/dev/null
fi
ninja -C "$COMPILER_BUILD" -j"$JOBS" bloom-compile make-synthetic-checkpoint
COMPILE=$COMPILER_BUILD/bin/bloom-compile

echo "== layout-only checkpoint in $LAYOUT"
"$COMPILER_BUILD/bin/make-synthetic-checkpoint" --config="$CONFIG" -o "$LAYOUT" \
  --dtype="$DTYPE" --seed="$SEED" --max-shard-bytes="$MAX_SHARD_BYTES" --layout-only

# Plans: KV slots sized to what each workload needs, rounded up to 64
# positions (a multiple of any KV block size the compiler picks).
round_up() { echo $(( ($1 + 63) / 64 * 64 )); }
max_batch=$(tr ',' '\n' <<<"$BATCHES" | sort -n | tail -1)
max_ttft=$(tr ',' '\n' <<<"$TTFT_PROMPTS" | sort -n | tail -1)
decode_flags=(--max-sequences="$max_batch" --max-seq-len="$(round_up $((PROMPT_LEN + NEW_TOKENS)))"
              --max-batch-tokens=$((max_batch * PROMPT_LEN)))
prefill_flags=(--max-sequences=1 --max-seq-len="$(round_up $((max_ttft + 1)))"
               --max-batch-tokens="$max_ttft")
target_flags=()
# A plan that cannot fit the GPU fails here, at compile time, not there.
if [[ $BACKEND == cuda ]] && "$COMPILE" --help 2>&1 | grep -q -- "--device-memory"; then
  target_flags+=(--device-memory="${DEVICE_MEMORY:-76GiB}")
fi
# Name the target when the compiler knows it (plans may be target-neutral).
if "$COMPILE" --help 2>&1 | grep -q -- "--target"; then
  if [[ $BACKEND == cuda ]] && "$COMPILE" --help 2>&1 | grep -A2 -- "--target" | grep -qi cuda; then
    target_flags+=(--target=cuda)
  fi
fi
rm -rf "$CARRY"
mkdir -p "$CARRY/bin" "$CARRY/plans"
for plan in decode prefill; do
  flags_name=${plan}_flags[@]
  echo "== bloom-compile --model=$LAYOUT -o $CARRY/plans/$plan --dtype=$PLAN_DTYPE ${target_flags[*]} ${!flags_name}"
  "$COMPILE" --model="$LAYOUT" -o "$CARRY/plans/$plan" --dtype="$PLAN_DTYPE" \
    "${target_flags[@]}" "${!flags_name}"
done

cp "$RUNTIME_BUILD/bin/bloom-run" "$RUNTIME_BUILD/bin/make-synthetic-checkpoint" "$CARRY/bin/"
strip "$CARRY/bin/"* 2>/dev/null || true
cp "$CONFIG" "$CARRY/config.json"
cat >"$CARRY/bench.env" <<EOF
BATCHES=$BATCHES
PROMPT_LEN=$PROMPT_LEN
NEW_TOKENS=$NEW_TOKENS
TTFT_PROMPTS=$TTFT_PROMPTS
SEED=$SEED
DTYPE=$DTYPE
MAX_SHARD_BYTES=$MAX_SHARD_BYTES
BACKEND=$BACKEND
MODEL_NAME=$MODEL_NAME
EOF
echo "== $CARRY ($(du -sh "$CARRY" | cut -f1)):"
find "$CARRY" -type f | sort
if [[ $DRY_RUN -eq 1 ]]; then
  echo "next: OUT=/tmp/bloom-bench-dry bash benchmarks/gpu/run_benchmark.sh --dry-run $CARRY"
else
  echo "next: the device tool's run with command 'bash benchmarks/gpu/run_benchmark.sh' and carry [\"$CARRY\"]"
fi
