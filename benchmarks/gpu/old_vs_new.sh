#!/usr/bin/env bash
# Issue 11's check, on the GPU machine: the BLOOM-7b1 decode benchmark of an
# old binary against a new one, in one run on one GPU, on the same weights
# and the same plan. Prepared here by scripts/gpu/prepare_old_vs_new.sh:
#
#   OLD_REV=a6d20c2 bash scripts/gpu/prepare_old_vs_new.sh
#   run(command="bash benchmarks/gpu/old_vs_new.sh", carry=[".carry/old-vs-new"])
#
# CARRY (.carry/old-vs-new) holds bin.tar.xz (the new bloom-cuda-bench,
# bloom-run and make-synthetic-checkpoint), bin-old.tar.xz (the old
# bloom-cuda-bench and bloom-run), plans/7b1-decode (plans-old/7b1-decode
# too when the plan format changed between them), bloom-7b1.json and
# old_vs_new.env (the two revisions).
#
# The weights are written once (make-synthetic-checkpoint, the workload of
# benchmarks/gpu/workload.sh). Then, for each tool (bloom-cuda-bench: the
# executor's decode steps, as scripts/gpu/cuda_backend.sh measures them;
# bloom-run --bench: the same through the scheduler, as
# benchmarks/gpu/run_benchmark.sh does) and each batch (1 and 128), ROUNDS
# rounds of one old and one new run, old first in even rounds and new first
# in odd ones, so that drift of the clocks or the page cache falls on both.
# A run's figure is its median decode ms/step; the summary holds, per tool
# and batch, the median over rounds for each binary and new/old.
#
# Results in $OUT: old_vs_new.json (the summary, also printed), runs.jsonl
# (every run's JSON line, tagged with binary, tool and round), log.txt.
#
# Environment: CARRY, ROUNDS (3), BATCHES (the workload's 1,128), TOOLS
# ("bench run"; bench: bloom-cuda-bench, run: bloom-run --bench), BACKEND
# (cuda; cpu for a dry run of the script with bloom-run only), CKPT
# (/tmp/old-vs-new-weights), CONFIG (CARRY/bloom-7b1.json), BENCH_TIMEOUT
# (150 s a run), DEADLINE_S (540: no run starts after it, so the summary is
# always written inside the device tool's 600 s).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
CARRY=${CARRY:-.carry/old-vs-new}
OUT=${OUT:-/tmp/old-vs-new-out}
source benchmarks/gpu/workload.sh
source scripts/gpu/device_setup.sh
ROUNDS=${ROUNDS:-3}
BATCHES=${BATCHES:-$WORKLOAD_COMPARE_BATCHES}
TOOLS=${TOOLS:-bench run}
BACKEND=${BACKEND:-cuda}
CKPT=${CKPT:-/tmp/old-vs-new-weights}
CONFIG=${CONFIG:-$CARRY/bloom-7b1.json}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-150}
DEADLINE_S=${DEADLINE_S:-540}
mkdir -p "$OUT"
LOG=$OUT/log.txt
RUNS=$OUT/runs.jsonl
: >"$LOG"
: >"$RUNS"
log() { echo "== $*" | tee -a "$LOG"; }

unpack_carried_binaries
for dir in "$CARRY/bin" "$CARRY/bin-old"; do
  [[ -d $dir ]] || { log "$dir is missing: run scripts/gpu/prepare_old_vs_new.sh first"; exit 2; }
done
# The old binary reads plans of its own format when the format changed.
OLD_PLANS=$CARRY/plans
[[ -d $CARRY/plans-old ]] && OLD_PLANS=$CARRY/plans-old
{
  echo "date: $(date -u +%FT%TZ)"
  cat "$CARRY/old_vs_new.env" 2>/dev/null
  command -v nvidia-smi >/dev/null &&
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv
  echo "old plans: $OLD_PLANS"
  for bin in "$CARRY/bin-old" "$CARRY/bin"; do
    for tool in "$bin"/*; do echo "ldd $tool:"; ldd "$tool" 2>&1 | grep -E "not found|cublas|nccl"; done
  done
} >>"$LOG" 2>&1

# Weights once, both binaries read them; a warm machine keeps /tmp.
STAMP="config=$(md5sum <"$CONFIG" | cut -c1-32) dtype=$WORKLOAD_DTYPE seed=$WORKLOAD_SEED shard=$WORKLOAD_MAX_SHARD_BYTES"
if [[ -f $CKPT/.stamp && $(cat "$CKPT/.stamp") == "$STAMP" ]]; then
  log "reusing $CKPT ($STAMP)"
else
  log "make-synthetic-checkpoint -> $CKPT ($STAMP)"
  rm -rf "$CKPT"
  if ! "$CARRY/bin/make-synthetic-checkpoint" --config="$CONFIG" -o "$CKPT" --dtype="$WORKLOAD_DTYPE" \
      --seed="$WORKLOAD_SEED" --max-shard-bytes="$WORKLOAD_MAX_SHARD_BYTES" >>"$LOG" 2>&1; then
    log "make-synthetic-checkpoint failed: nothing to compare"
    exit 1
  fi
  echo "$STAMP" >"$CKPT/.stamp"
fi

# One run: its last JSON line, tagged, into runs.jsonl (an error line if
# it failed or the time was spent).
#   measure WHICH TOOL BATCH ROUND   (WHICH: old or new)
measure() {
  local which=$1 tool=$2 batch=$3 round=$4 bin=$CARRY/bin plans=$CARRY/plans
  [[ $which == old ]] && bin=$CARRY/bin-old plans=$OLD_PLANS
  # The tag goes last: a key the tool prints too ("batch") reads as the tag's.
  local tag="\"binary\": \"$which\", \"tool\": \"$tool\", \"round\": $round, \"batch\": $batch}"
  if (( SECONDS > DEADLINE_S )); then
    echo "{\"error\": \"skipped: past DEADLINE_S=$DEADLINE_S\", $tag" | tee -a "$LOG" >>"$RUNS"
    return
  fi
  local cmd
  if [[ $tool == bench ]]; then
    # The executor's own profile off: only the timed steps.
    cmd=(env BLOOM_CUDA_PROFILE=0 "$bin/bloom-cuda-bench" --plan="$plans/7b1-decode"
         --checkpoint-dir="$CKPT" --batches="$batch" --prompt="$WORKLOAD_PROMPT_LEN"
         --new-tokens="$WORKLOAD_NEW_TOKENS")
  else
    cmd=("$bin/bloom-run" "$plans/7b1-decode" --checkpoint-dir="$CKPT" --bench --batch="$batch"
         --prompt-len="$WORKLOAD_PROMPT_LEN" --max-new-tokens="$WORKLOAD_NEW_TOKENS"
         --backend="$BACKEND")
  fi
  log "$which $tool batch $batch round $round: ${cmd[*]}"
  local stdout rc
  stdout=$(timeout "$BENCH_TIMEOUT" "${cmd[@]}" 2>>"$LOG")
  rc=$?
  local line
  # bloom-cuda-bench prints a memory line after its decode line.
  if [[ $tool == bench ]]; then
    line=$(grep '^{"kind": "decode"' <<<"$stdout" | tail -1)
  else
    line=$(grep '^{' <<<"$stdout" | tail -1)
  fi
  if [[ $rc -eq 0 && -n $line ]]; then
    echo "${line%\}}, $tag" | tee -a "$LOG" >>"$RUNS"
  else
    echo "{\"error\": \"exit $rc\", $tag" | tee -a "$LOG" >>"$RUNS"
  fi
}

for tool in $TOOLS; do
  for batch in ${BATCHES//,/ }; do
    for ((round = 0; round < ROUNDS; ++round)); do
      if (( round % 2 == 0 )); then order="old new"; else order="new old"; fi
      for which in $order; do measure "$which" "$tool" "$batch" "$round"; done
    done
  done
done

python3 - "$RUNS" "$OUT/old_vs_new.json" <<'PY' | tee -a "$LOG"
import json, statistics, sys

runs = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
summary = []
for key in sorted({(r["tool"], r["batch"]) for r in runs}, key=lambda k: (k[0], k[1])):
    tool, batch = key
    entry = {"tool": {"bench": "bloom-cuda-bench", "run": "bloom-run --bench"}[tool], "batch": batch}
    for which in ("old", "new"):
        mine = [r for r in runs if (r["tool"], r["batch"], r["binary"]) == (tool, batch, which)]
        figures = [r.get("ms_per_step_median", r.get("decode_ms_per_step_median")) for r in mine]
        figures = [f for f in figures if isinstance(f, (int, float)) and f > 0]
        entry[which] = {"ms_per_step_median": statistics.median(figures) if figures else None,
                        "runs_ms": figures, "errors": [r["error"] for r in mine if "error" in r]}
    old, new = entry["old"]["ms_per_step_median"], entry["new"]["ms_per_step_median"]
    entry["new_over_old"] = round(new / old, 4) if old and new else None
    entry["within_3_percent"] = (abs(new / old - 1) <= 0.03) if old and new else None
    # Both binaries decode the same seeded prompts greedily: the tokens of
    # the first sequence should agree (bloom-cuda-bench prints them).
    tokens = {r["binary"]: r["first_sequence_tokens"] for r in runs
              if (r["tool"], r["batch"]) == key and "first_sequence_tokens" in r}
    if len(tokens) == 2:
        entry["same_first_sequence_tokens"] = tokens["old"] == tokens["new"]
    summary.append(entry)
result = {"kind": "old_vs_new", "decode": summary,
          "all_within_3_percent": all(e["within_3_percent"] for e in summary) if summary else False}
with open(sys.argv[2], "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")
print(json.dumps(result, indent=2))
PY
