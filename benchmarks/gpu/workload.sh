# shellcheck shell=bash
# The BLOOM-7b1 GPU workload, defined once. Sourced (bash) by every GPU
# prepare flow: scripts/gpu/cuda_backend.sh prepare, benchmarks/gpu/prepare.sh,
# scripts/gpu/multi_gpu.sh prepare and scripts/gpu/prepare_old_vs_new.sh (and
# on the device by benchmarks/gpu/old_vs_new.sh), so that their plans, the
# layout-only replica they compile against and the weights written on the
# GPU machine agree. Paths are relative to the repository root.
#
# Synthetic weights: make-synthetic-checkpoint --config --dtype --seed
# --max-shard-bytes (0: one file). The layout-only replica here and the
# real write there must use the same four, or the plans name other files.
WORKLOAD_CONFIG=models/bloom/presets/bloom-7b1.json
WORKLOAD_DTYPE=bf16
WORKLOAD_SEED=0
WORKLOAD_MAX_SHARD_BYTES=0
# Decode: batches of random prompts of WORKLOAD_PROMPT_LEN tokens, then
# WORKLOAD_NEW_TOKENS greedy steps. Time to first token: one sequence with
# each of WORKLOAD_PREFILL_PROMPTS.
WORKLOAD_BATCHES=1,8,32,64,128
WORKLOAD_PROMPT_LEN=32
WORKLOAD_NEW_TOKENS=100
WORKLOAD_PREFILL_PROMPTS=512,2048
# Issue 11's old-binary-against-new check (benchmarks/gpu/old_vs_new.sh).
WORKLOAD_COMPARE_BATCHES=1,128
# Plans fail at compile time, not on the GPU, if they do not fit: an
# 80 GB GPU less its CUDA context (an H200 has more; the limit is a check,
# the plan's program does not depend on it).
WORKLOAD_DEVICE_MEMORY=76GiB

# Rounds $1 up to a multiple of 64 positions (a multiple of any KV block
# size the compiler picks).
workload_round_up() { echo $(( ($1 + 63) / 64 * 64 )); }

# The largest of a comma-separated list.
workload_max() { tr ',' '\n' <<<"$1" | sort -n | tail -1; }

# bloom-compile's limits for the decode plan of a workload: a KV slot per
# sequence of the largest batch, prompt plus new tokens positions each, and
# the whole batch's prompts in one prefill step. (Both plans in one would
# reserve a KV cache of 128 x 2048 positions: 132 GB in bf16.)
#   workload_decode_flags BATCHES PROMPT_LEN NEW_TOKENS
workload_decode_flags() {
  local batch
  batch=$(workload_max "$1")
  echo "--max-sequences=$batch --max-seq-len=$(workload_round_up $(($2 + $3)))" \
    "--max-batch-tokens=$((batch * $2))"
}

# ... and of the prefill plan: one sequence of the longest prompt plus one
# token, the whole prompt in one step.
#   workload_prefill_flags PREFILL_PROMPTS
workload_prefill_flags() {
  local prompt
  prompt=$(workload_max "$1")
  echo "--max-sequences=1 --max-seq-len=$(workload_round_up $((prompt + 1)))" \
    "--max-batch-tokens=$prompt"
}

# The 7b1 plans' flags at the workload above: decode --max-sequences=128
# --max-seq-len=192 --max-batch-tokens=4096, prefill --max-sequences=1
# --max-seq-len=2112 --max-batch-tokens=2048 (benchmark_scripts_test.py
# checks these figures).
WORKLOAD_DECODE_FLAGS=$(workload_decode_flags "$WORKLOAD_BATCHES" "$WORKLOAD_PROMPT_LEN" \
  "$WORKLOAD_NEW_TOKENS")
WORKLOAD_PREFILL_FLAGS=$(workload_prefill_flags "$WORKLOAD_PREFILL_PROMPTS")

# Writes the layout-only replica of the workload's checkpoint into DIR
# with make-synthetic-checkpoint TOOL (headers and sizes, sparse data):
#   workload_layout TOOL DIR [CONFIG]
workload_layout() {
  "$1" --config="${3:-$WORKLOAD_CONFIG}" -o "$2" --dtype="$WORKLOAD_DTYPE" --seed="$WORKLOAD_SEED" \
    --max-shard-bytes="$WORKLOAD_MAX_SHARD_BYTES" --layout-only >/dev/null
}

# Compiles the workload's decode (or prefill) plan of the replica LAYOUT
# into PLAN_DIR with bloom-compile COMPILE, plus any extra flags (--tp=2):
#   workload_compile_decode COMPILE LAYOUT PLAN_DIR [FLAGS...]
#   workload_compile_prefill COMPILE LAYOUT PLAN_DIR [FLAGS...]
workload_compile_decode() {
  local compile=$1 layout=$2 plan=$3
  shift 3
  # shellcheck disable=SC2086  # the limits are words
  "$compile" --model="$layout" -o "$plan" --dtype="$WORKLOAD_DTYPE" \
    --device-memory="$WORKLOAD_DEVICE_MEMORY" $WORKLOAD_DECODE_FLAGS "$@"
}
workload_compile_prefill() {
  local compile=$1 layout=$2 plan=$3
  shift 3
  # shellcheck disable=SC2086
  "$compile" --model="$layout" -o "$plan" --dtype="$WORKLOAD_DTYPE" \
    --device-memory="$WORKLOAD_DEVICE_MEMORY" $WORKLOAD_PREFILL_FLAGS "$@"
}
