#!/usr/bin/env bash
# The benchmark's device-side driver: bloom-run against Hugging Face
# transformers on the same GPU, in one run, on the same random weights, each
# figure beside its floor. Runs from the repository root on the GPU machine,
# over what benchmarks/gpu/prepare.sh put in the carried folder:
#
#   CARRY/bin/{bloom-run,make-synthetic-checkpoint}   (built here, static Abseil)
#                                                     (packed as CARRY/bin.tar.xz for the GPU)
#   CARRY/config.json                                 (the model's shapes)
#   CARRY/plans/{decode,prefill}                      (compiled here)
#   CARRY/bench.env                                   (the workload; see prepare.sh)
#
# Steps: write the checkpoint (make-synthetic-checkpoint, same options as
# the layout the plans were compiled against); measure the ceilings
# (ceilings.py); bloom-run --bench per configuration (--checkpoint-dir
# points the plans at the weights made here); hf_reference.py on the same
# checkpoint; compare.py. Before the timings, issue 15's top-1 agreement
# check (prompt_rows.py): bloom-run --dump-logits on plans/agreement over
# one fixed prompt of AGREEMENT_PROMPT_LEN tokens, every row's argmax into
# ours.jsonl; the eager reference reads the same prompt (--prompt-rows).
# Results go to $OUT (at most 8 files):
#   log.txt env.txt ceilings.json ours.jsonl hf.jsonl results.json results.md decode.png
# hf.jsonl holds both references: transformers eager and, unless HF_MODES
# leaves it out, with a static KV cache and torch.compile (issue 15).
#
# Usage: benchmarks/gpu/run_benchmark.sh [--dry-run] [CARRY]
#   --dry-run  the CPU backend on what `prepare.sh --dry-run` made (a tiny
#              model); HF and the ceilings run only if torch has a GPU.
set -uo pipefail

DRY_RUN=0
if [[ ${1:-} == --dry-run ]]; then
  DRY_RUN=1
  shift
fi
CARRY=${1:-.carry/bench}
OUT=${OUT:-/tmp/bloom-bench-out}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
LOG=$OUT/log.txt
: >"$LOG"
: >"$OUT/ours.jsonl"
: >"$OUT/hf.jsonl"
rm -f "$OUT/ceilings.json"

log() { echo "== $*" | tee -a "$LOG"; }

if [[ ! -f $CARRY/bench.env ]]; then
  echo "run_benchmark.sh: $CARRY/bench.env not found: run benchmarks/gpu/prepare.sh first" >&2
  exit 2
fi
# BATCHES PROMPT_LEN NEW_TOKENS TTFT_PROMPTS SEED DTYPE MAX_SHARD_BYTES BACKEND MODEL_NAME
# AGREEMENT_PROMPT_LEN (absent from a carry prepared before it)
source "$CARRY/bench.env"
# prepare.sh packs the GPU run's binaries (the device tool's carry limit);
# the device scripts' unpacking opens them (a dry run's are not packed).
source "$HERE/../../scripts/gpu/device_setup.sh"
unpack_carried_binaries
if [[ ! -x $CARRY/bin/bloom-run ]]; then
  echo "run_benchmark.sh: $CARRY/bin/bloom-run not found (nor $CARRY/bin.tar.xz to unpack)" >&2
  exit 2
fi
BIN=$CARRY/bin
CKPT=${CKPT:-/tmp/bloom-bench-checkpoint}
PYTHON=${PYTHON:-python3}
RUN_TIMEOUT=${RUN_TIMEOUT:-150}
# The device tool stops a command at 600 s: bloom-run's runs stop starting
# once only HF_RESERVE_S of DEADLINE_S are left, so the references (eager
# and compiled, below) and the comparison always run.
DEADLINE_S=${DEADLINE_S:-570}
HF_RESERVE_S=${HF_RESERVE_S:-330}
export PYTHONUNBUFFERED=1
# bloom-run links cuBLASLt (and NCCL) dynamically from the machine's CUDA.
for dir in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib; do
  [[ -d $dir ]] && export LD_LIBRARY_PATH=$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
done

has_gpu_torch() {
  "$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null
}

{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(uname -a)"
  echo "workload: batches=$BATCHES prompt_len=$PROMPT_LEN new_tokens=$NEW_TOKENS ttft=$TTFT_PROMPTS dtype=$DTYPE backend=$BACKEND seed=$SEED"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv
  "$PYTHON" -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' 2>&1
  "$PYTHON" -c 'import matplotlib; print("matplotlib", matplotlib.__version__)' 2>&1 | tail -1
  echo "ldd bloom-run:"; ldd "$BIN/bloom-run" 2>&1
  echo "nproc: $(nproc)  memory: $(free -g | awk '/Mem:/{print $2}') GiB  disk: $(df -h /tmp | awk 'NR==2{print $4}') free"
  for plan in "$CARRY"/plans/*; do echo "plan $plan:"; cat "$plan/report.json" 2>/dev/null; done
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt" >>"$LOG"

# A warm machine keeps /tmp between calls: reuse weights made with the
# same config and options.
STAMP="config=$(md5sum <"$CARRY/config.json" | cut -c1-32) dtype=$DTYPE seed=$SEED shard=$MAX_SHARD_BYTES"
if [[ -f $CKPT/.bench-stamp && $(cat "$CKPT/.bench-stamp") == "$STAMP" ]]; then
  log "reusing $CKPT ($STAMP)"
else
  log "make-synthetic-checkpoint -> $CKPT ($DTYPE, seed $SEED)"
  rm -rf "$CKPT"
  "$BIN/make-synthetic-checkpoint" --config="$CARRY/config.json" -o "$CKPT" --dtype="$DTYPE" \
    --seed="$SEED" --max-shard-bytes="$MAX_SHARD_BYTES" 2>&1 | tee -a "$LOG"
  if [[ ${PIPESTATUS[0]} -ne 0 ]]; then
    log "make-synthetic-checkpoint failed: nothing to benchmark"
    exit 1
  fi
  echo "$STAMP" >"$CKPT/.bench-stamp"
fi

CEILINGS=()
if has_gpu_torch; then
  log "ceilings (device-to-device copy, 8192^3 bf16 GEMM)"
  "$PYTHON" "$HERE/ceilings.py" --out "$OUT/ceilings.json" 2>&1 | tee -a "$LOG"
  [[ -s $OUT/ceilings.json ]] && CEILINGS=(--ceilings "$OUT/ceilings.json")
else
  log "no CUDA torch here: ceilings and the HF reference are skipped"
fi

# One bloom-run --bench; its JSON line goes to ours.jsonl, or an error line
# naming the configuration and bloom-run's last words.
bench() {
  local plan=$1 batch=$2 prompt=$3 new=$4
  local args=("$CARRY/plans/$plan" --checkpoint-dir="$CKPT" --bench --batch="$batch"
              --prompt-len="$prompt" --max-new-tokens="$new" --backend="$BACKEND")
  log "bloom-run ${args[*]}"
  local stdout stderr rc limit=$RUN_TIMEOUT left=$((DEADLINE_S - HF_RESERVE_S - SECONDS))
  (( left < limit )) && limit=$left
  if (( limit < 20 )); then
    echo "{\"backend\": \"bloom-run\", \"batch\": $batch, \"prompt_len\": $prompt, \"new_tokens\": $new, \"error\": \"skipped: the call's time budget was spent\"}" \
      | tee -a "$LOG" >>"$OUT/ours.jsonl"
    return
  fi
  stdout=$(mktemp) stderr=$(mktemp)
  timeout "$limit" "$BIN/bloom-run" "${args[@]}" >"$stdout" 2>"$stderr"
  rc=$?
  # Progress bars and messages stay in the log, not in the JSON.
  tr '\r' '\n' <"$stderr" | tail -5 >>"$LOG"
  if [[ $rc -eq 0 ]] && grep -q '^{' "$stdout"; then
    grep '^{' "$stdout" | tail -1 | tee -a "$LOG" >>"$OUT/ours.jsonl"
  else
    local why
    why=$(tr '\r' '\n' <"$stderr" | grep -v '^\s*$' | tail -1 | tr -d '"\\' | cut -c1-300)
    [[ $rc -eq 124 ]] && why="timed out after ${limit}s; $why"
    echo "{\"backend\": \"bloom-run\", \"batch\": $batch, \"prompt_len\": $prompt, \"new_tokens\": $new, \"error\": \"exit $rc: $why\"}" \
      | tee -a "$LOG" >>"$OUT/ours.jsonl"
  fi
  rm -f "$stdout" "$stderr"
}

# The agreement check's bloom-run side: the logits of every row of one
# prompt (one step: the plan has a logit row per prompt token), written
# whole (P x vocab float32; 514 MB at 7b1's 512) outside $OUT, their argmax
# appended to ours.jsonl, or an error record.
PROMPT_ROWS=""
prompt_rows_ours() {
  local dir=/tmp/bloom-bench-agreement limit=${AGREEMENT_TIMEOUT:-90}
  mkdir -p "$dir"
  PROMPT_ROWS=$dir/prompt.txt
  local error=""
  if ! "$PYTHON" "$HERE/prompt_rows.py" prompt --config "$CARRY/config.json" \
       --length "$AGREEMENT_PROMPT_LEN" --seed "$SEED" --out "$PROMPT_ROWS" 2>>"$LOG"; then
    PROMPT_ROWS=""
    error="prompt_rows.py prompt failed (see log.txt)"
  else
    log "bloom-run $CARRY/plans/agreement --tokens=<$AGREEMENT_PROMPT_LEN ids> --max-new-tokens=1 --dump-logits"
    rm -f "$dir/logits.npy"
    timeout "$limit" "$BIN/bloom-run" "$CARRY/plans/agreement" --checkpoint-dir="$CKPT" \
      --backend="$BACKEND" --tokens="$(cat "$PROMPT_ROWS")" --max-new-tokens=1 \
      --dump-logits="$dir/logits.npy" >"$dir/stdout" 2>"$dir/stderr"
    local rc=$?
    tr '\r' '\n' <"$dir/stderr" | tail -3 >>"$LOG"
    if [[ $rc -ne 0 ]]; then
      error="exit $rc: $(tr '\r' '\n' <"$dir/stderr" | grep -v '^\s*$' | tail -1 | tr -d '"\\' | cut -c1-300)"
      [[ $rc -eq 124 ]] && error="timed out after ${limit}s; $error"
    elif ! "$PYTHON" "$HERE/prompt_rows.py" argmax --npy "$dir/logits.npy" --prompt "$PROMPT_ROWS" \
         --out "$OUT/ours.jsonl" 2>&1 | tee -a "$LOG"; then
      error="prompt_rows.py argmax failed (see log.txt)"
    fi
    rm -f "$dir/logits.npy"
  fi
  if [[ -n $error ]]; then
    echo "{\"backend\": \"bloom-run\", \"kind\": \"prompt_rows\", \"prompt_len\": $AGREEMENT_PROMPT_LEN, \"error\": \"$error\"}" \
      | tee -a "$LOG" >>"$OUT/ours.jsonl"
  fi
}
if [[ -n ${AGREEMENT_PROMPT_LEN:-} && -d $CARRY/plans/agreement ]]; then
  prompt_rows_ours
else
  log "no plans/agreement in $CARRY (prepared before the agreement check): it is skipped"
fi

for batch in ${BATCHES//,/ }; do
  bench decode "$batch" "$PROMPT_LEN" "$NEW_TOKENS"
done
for prompt in ${TTFT_PROMPTS//,/ }; do
  bench prefill 1 "$prompt" 1
done

# HF_MODES: which references run, in order, all into hf.jsonl (compare.py
# tells them apart by backend): eager (BloomForCausalLM as it comes) and
# compiled (a static KV cache and torch.compile: issue 15's baseline; its
# compilation is timed apart). Each gets what is left of the deadline.
HF_MODES=${HF_MODES:-eager compiled}
if [[ ${#CEILINGS[@]} -gt 0 ]]; then
  for mode in $HF_MODES; do
    flags=()
    [[ $mode == compiled ]] && flags=(--compile)
    # The agreement check's reference: one more forward, in the eager run.
    [[ $mode == eager && -n $PROMPT_ROWS ]] && flags=(--prompt-rows "$PROMPT_ROWS")
    left=$((DEADLINE_S - 15 - SECONDS))
    if (( left < 30 )); then
      log "HF transformers reference ($mode): skipped, the call's time budget was spent"
      continue
    fi
    log "HF transformers reference (BloomForCausalLM, bf16, $mode; ${left}s left)"
    timeout "$left" "$PYTHON" "$HERE/hf_reference.py" --checkpoint "$CKPT" --batches "$BATCHES" \
      --prompt-len "$PROMPT_LEN" --new-tokens "$NEW_TOKENS" --ttft-prompts "$TTFT_PROMPTS" \
      --seed "$SEED" --out "$OUT/hf.jsonl" "${flags[@]}" 2>&1 | grep -v 'it/s\]$' | tee -a "$LOG"
  done
fi

log "compare"
TARGETS=()
[[ $DRY_RUN -eq 1 ]] && TARGETS=(--no-targets)
"$PYTHON" "$HERE/compare.py" --ours "$OUT/ours.jsonl" --hf "$OUT/hf.jsonl" "${CEILINGS[@]}" \
  --config "$CARRY/config.json" --model-name "${MODEL_NAME:-model}" --batches "$BATCHES" --prompt-len "$PROMPT_LEN" \
  --new-tokens "$NEW_TOKENS" --ttft-prompts "$TTFT_PROMPTS" --out-dir "$OUT" "${TARGETS[@]}" \
  2>&1 | tee -a "$LOG"
