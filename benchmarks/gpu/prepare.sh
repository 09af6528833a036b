#!/usr/bin/env bash
# Prepares, on the development machine, everything the GPU benchmark carries
# (the GPU machine has no MLIR, no Abseil, and no room to send 14 GB to):
#
#   1. bloom-run and make-synthetic-checkpoint, runtime only, Abseil linked
#      statically (benchmarks/gpu/cmake/absl), into CARRY/bin
#      (scripts/gpu/carry_build.sh, the step every GPU flow shares);
#   2. a layout-only replica of the benchmark checkpoint: the same
#      make-synthetic-checkpoint command the GPU machine will run, with
#      --layout-only, so the safetensors files have the real headers and
#      sizes but are sparse holes here (no disk, no time);
#   3. the two plans compiled against that replica with bloom-compile:
#      plans/decode (128 sequence slots, prompt + new tokens each, a
#      batch-128 prefill in one step) and plans/prefill (one slot of 2048+
#      positions), because one plan with both would reserve a KV cache of
#      128 x 2048 positions (132 GB in bf16). bloom-run there points them at
#      the real weights with --checkpoint-dir; and plans/agreement (one
#      sequence of AGREEMENT_PROMPT_LEN tokens in one step with a logit row
#      each: issue 15's top-1 agreement check, benchmarks/gpu/prompt_rows.py);
#   4. CARRY/config.json and CARRY/bench.env (the workload both sides read:
#      benchmarks/gpu/workload.sh's, the one every GPU flow compiles for).
#
# Then one call of the device tool runs it all (see docs/benchmarks.md):
#   run(command="bash benchmarks/gpu/run_benchmark.sh", carry=[".carry/bench"])
#
# Usage: benchmarks/gpu/prepare.sh [--dry-run]
#   --dry-run: the tiny model on the CPU backend, for checking the scripts
#   here (then: benchmarks/gpu/run_benchmark.sh --dry-run .carry/bench-dry).
# Environment: CONFIG (model config.json), CARRY, RUNTIME_BUILD (static
# runtime build dir), CUDA (ON for the GPU run, OFF for --dry-run),
# RUNTIME_CMAKE_ARGS (its extra CMake flags), SRC (the
# source tree whose binaries are built; see scripts/gpu/carry_build.sh),
# COMPILER_BUILD (a build dir with bloom-compile; built if missing),
# PLAN_DTYPE (bloom-compile --dtype), DEVICE_MEMORY (bloom-compile
# --device-memory; default the workload's 76GiB: an H100's 80 GB less the
# CUDA context), JOBS; BATCHES, PROMPT_LEN, NEW_TOKENS, TTFT_PROMPTS, SEED
# and MAX_SHARD_BYTES override the workload's; AGREEMENT_PROMPT_LEN (512;
# --dry-run 32) is the agreement plan's prompt.
set -euo pipefail
cd "$(dirname "$0")/../.."

DRY_RUN=0
[[ ${1:-} == --dry-run ]] && DRY_RUN=1
source benchmarks/gpu/workload.sh
JOBS=${JOBS:-2}
SEED=${SEED:-$WORKLOAD_SEED}
DTYPE=$WORKLOAD_DTYPE
MAX_SHARD_BYTES=${MAX_SHARD_BYTES:-$WORKLOAD_MAX_SHARD_BYTES}
if [[ $DRY_RUN -eq 1 ]]; then
  CONFIG=${CONFIG:-models/bloom/tiny-random/config.json}
  CARRY=${CARRY:-.carry/bench-dry}
  BACKEND=cpu
  BATCHES=${BATCHES:-1,2,4}
  PROMPT_LEN=${PROMPT_LEN:-8}
  NEW_TOKENS=${NEW_TOKENS:-6}
  TTFT_PROMPTS=${TTFT_PROMPTS:-32,64}
  AGREEMENT_PROMPT_LEN=${AGREEMENT_PROMPT_LEN:-32}
  PLAN_DTYPE=${PLAN_DTYPE:-fp32}
  CUDA=${CUDA:-OFF}
else
  CONFIG=${CONFIG:-$WORKLOAD_CONFIG}
  CARRY=${CARRY:-.carry/bench}
  BACKEND=cuda
  BATCHES=${BATCHES:-$WORKLOAD_BATCHES}
  PROMPT_LEN=${PROMPT_LEN:-$WORKLOAD_PROMPT_LEN}
  NEW_TOKENS=${NEW_TOKENS:-$WORKLOAD_NEW_TOKENS}
  TTFT_PROMPTS=${TTFT_PROMPTS:-$WORKLOAD_PREFILL_PROMPTS}
  AGREEMENT_PROMPT_LEN=${AGREEMENT_PROMPT_LEN:-512}
  PLAN_DTYPE=${PLAN_DTYPE:-$WORKLOAD_DTYPE}
  CUDA=${CUDA:-ON}
fi
RUNTIME_BUILD=${RUNTIME_BUILD:-build/bench-runtime}
COMPILER_BUILD=${COMPILER_BUILD:-build/default}
# The replica's directory name becomes the plan's model name.
MODEL_NAME=$(basename "$CONFIG" .json)
[[ $MODEL_NAME == config ]] && MODEL_NAME=$(basename "$(dirname "$CONFIG")")
LAYOUT=${LAYOUT:-/tmp/bloom-bench-layout/$MODEL_NAME}

[[ -f $CONFIG ]] || { echo "prepare.sh: $CONFIG: no such config" >&2; exit 2; }

rm -rf "$CARRY"
mkdir -p "$CARRY/plans"
BUILD=$RUNTIME_BUILD CUDA=$CUDA TESTS=OFF JOBS=$JOBS CMAKE_ARGS=${RUNTIME_CMAKE_ARGS:-} \
  bash scripts/gpu/carry_build.sh "$CARRY/bin" bloom-run make-synthetic-checkpoint

echo "== bloom-compile in $COMPILER_BUILD"
if [[ ! -f $COMPILER_BUILD/build.ninja ]]; then
  cmake -S . -B "$COMPILER_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBLOOM_ENABLE_CUDA=OFF >/dev/null
fi
ninja -C "$COMPILER_BUILD" -j"$JOBS" bloom-compile make-synthetic-checkpoint
COMPILE=$COMPILER_BUILD/bin/bloom-compile

echo "== layout-only checkpoint in $LAYOUT"
"$COMPILER_BUILD/bin/make-synthetic-checkpoint" --config="$CONFIG" -o "$LAYOUT" \
  --dtype="$DTYPE" --seed="$SEED" --max-shard-bytes="$MAX_SHARD_BYTES" --layout-only

# Plans: KV slots sized to what each workload needs (workload.sh's rule, so
# at the default workload these are the other GPU flows' 7b1 plans).
read -ra decode_flags <<<"$(workload_decode_flags "$BATCHES" "$PROMPT_LEN" "$NEW_TOKENS")"
read -ra prefill_flags <<<"$(workload_prefill_flags "$TTFT_PROMPTS")"
read -ra agreement_flags <<<"$(workload_prefill_flags "$AGREEMENT_PROMPT_LEN") \
  --max-logit-rows=$AGREEMENT_PROMPT_LEN"
target_flags=()
# A plan that cannot fit the GPU fails here, at compile time, not there.
# (Plans are target-neutral: bloom-compile's --target is cpu only.)
if [[ $BACKEND == cuda ]]; then
  target_flags+=(--device-memory="${DEVICE_MEMORY:-$WORKLOAD_DEVICE_MEMORY}")
fi
for plan in decode prefill agreement; do
  flags_name=${plan}_flags[@]
  echo "== bloom-compile --model=$LAYOUT -o $CARRY/plans/$plan --dtype=$PLAN_DTYPE ${target_flags[*]} ${!flags_name}"
  "$COMPILE" --model="$LAYOUT" -o "$CARRY/plans/$plan" --dtype="$PLAN_DTYPE" \
    "${target_flags[@]}" "${!flags_name}"
done

cp "$CONFIG" "$CARRY/config.json"
cat >"$CARRY/bench.env" <<EOF
BATCHES=$BATCHES
PROMPT_LEN=$PROMPT_LEN
NEW_TOKENS=$NEW_TOKENS
TTFT_PROMPTS=$TTFT_PROMPTS
AGREEMENT_PROMPT_LEN=$AGREEMENT_PROMPT_LEN
SEED=$SEED
DTYPE=$DTYPE
MAX_SHARD_BYTES=$MAX_SHARD_BYTES
BACKEND=$BACKEND
MODEL_NAME=$MODEL_NAME
EOF
# The GPU run's binaries travel compressed (the device tool carries 64 MiB
# with the working tree); run_benchmark.sh unpacks them.
if [[ $DRY_RUN -eq 0 ]]; then
  tar -C "$CARRY" -cJf "$CARRY/bin.tar.xz" bin && rm -rf "$CARRY/bin"
fi
echo "== $CARRY ($(du -sh "$CARRY" | cut -f1)):"
find "$CARRY" -type f | sort
if [[ $DRY_RUN -eq 1 ]]; then
  echo "next: OUT=/tmp/bloom-bench-dry bash benchmarks/gpu/run_benchmark.sh --dry-run $CARRY"
else
  echo "next: the device tool's run with command 'bash benchmarks/gpu/run_benchmark.sh' and carry [\"$CARRY\"]"
fi
