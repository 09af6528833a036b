#!/usr/bin/env bash
# Issue 12's serving comparison, on the GPU machine (one H200, BLOOM-7b1
# shapes, bf16, random weights). Prepared here by
# scripts/gpu/prepare_serve_sweep.sh:
#
#   bash scripts/gpu/prepare_serve_sweep.sh
#   run(command="bash benchmarks/serve/gpu_sweep.sh", carry=[".carry/serve-sweep"])
#
# 1. the weights, once (make-synthetic-checkpoint; kept in CKPT on a warm
#    machine);
# 2. bloom-run --bench on the same plan at batch 1 and at the saturation
#    batch (the plan's max_sequences), prompts of BENCH_PROMPT_LEN tokens,
#    BENCH_NEW_TOKENS greedy tokens;
# 3. bloom-serve --batching=continuous: sweep.py over RATES_CONTINUOUS
#    (Poisson arrivals; inputs INPUT_MIN-INPUT_MAX tokens, outputs
#    OUTPUT_MIN-OUTPUT_MAX, exactly max_tokens each: ignore_eos); then
#    saturation (SAT_REQUESTS, default 2 x max_sequences, at a concurrency
#    of max_sequences) for throughput against --bench's at that batch; then
#    one request in flight (concurrency 1, C1_REQUESTS requests) for TPOT
#    against --bench's batch-1 decode ms/step;
# 4. bloom-serve --batching=static (batches of the plan's max_sequences,
#    STATIC_TIMEOUT): sweep.py over RATES_STATIC;
# 5. sweep.json and sweep.png (p99 TTFT, p99 TPOT and throughput against
#    the rate; the highest rate under SLO_TTFT_MS / SLO_TPOT_MS per mode and
#    continuous over static) and summary.json (those, --bench's figures, the
#    saturation throughput over --bench's, concurrency-1 TPOT over --bench's
#    batch-1 step) in $OUT, with every run's JSON under $OUT/runs and the
#    servers' logs.
#
# Time: everything is bounded by DEADLINE_S (540, inside the device tool's
# 600 s): a step whose estimate (a rate's run: its requests / rate +
# TAIL_S) does not fit in what is left is skipped and named in the summary,
# and each command runs under `timeout` of what is left. Each rate sends
# SECONDS_PER_RATE x rate requests (at least MIN_REQUESTS).
#
# Environment (defaults from CARRY/sweep.env and the workload above): CARRY
# (.carry/serve-sweep), OUT (/tmp/serve-sweep-out), BACKEND (cuda; cpu in a
# dry run), CKPT (/tmp/serve-sweep-weights), RATES_CONTINUOUS (1,4,8,16),
# RATES_STATIC (0.5,2), SECONDS_PER_RATE (12), MIN_REQUESTS (10),
# C1_REQUESTS (6), INPUT_MIN/MAX (128/512), OUTPUT_MIN/MAX (64/256),
# SLO_TTFT_MS (500), SLO_TPOT_MS (50), STATIC_BATCH (the plan's
# max_sequences), STATIC_TIMEOUT (100ms), BENCH_PROMPT_LEN (320),
# BENCH_NEW_TOKENS (160), PORT (8080), SERVER_START_S (180), TAIL_S (20),
# DEADLINE_S (540), STATIC_RESERVE_S (110: seconds the continuous phase
# leaves for the static one), PHASES ("bench continuous static"; also
# "gpu_tests" and "saturation": a subset to split the work over several
# run calls; a warm machine keeps the weights), SAT_REQUESTS (2 x
# max_sequences), SKIP_BENCH (0), BENCH_SAMPLED (0: 1 adds sampled --bench
# runs with SAMPLING_FLAGS), SAMPLING_BODY (the sampled requests' extra
# JSON), SAT_WAVES (3: the saturation phase's requests per client).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
CARRY=${CARRY:-.carry/serve-sweep}
OUT=${OUT:-/tmp/serve-sweep-out}
[[ -f $CARRY/sweep.env ]] || { echo "gpu_sweep.sh: $CARRY/sweep.env is missing: run scripts/gpu/prepare_serve_sweep.sh first" >&2; exit 2; }
source "$CARRY/sweep.env"
source benchmarks/gpu/workload.sh
source scripts/gpu/device_setup.sh
DRY=${SWEEP_DRY_RUN:-0}
if [[ $DRY -eq 1 ]]; then
  # The tiny model on the CPU: small lengths and few requests, same logic.
  : "${BACKEND:=cpu}" "${RATES_CONTINUOUS:=2,8}" "${RATES_STATIC:=2}" "${SECONDS_PER_RATE:=2}"
  : "${MIN_REQUESTS:=4}" "${C1_REQUESTS:=3}" "${INPUT_MIN:=8}" "${INPUT_MAX:=32}"
  : "${OUTPUT_MIN:=4}" "${OUTPUT_MAX:=16}" "${BENCH_PROMPT_LEN:=16}" "${BENCH_NEW_TOKENS:=8}"
  : "${SERVER_START_S:=30}" "${TAIL_S:=5}" "${DEADLINE_S:=300}" "${STATIC_RESERVE_S:=20}"
fi
BACKEND=${BACKEND:-cuda}
CKPT=${CKPT:-/tmp/serve-sweep-weights}
RATES_CONTINUOUS=${RATES_CONTINUOUS:-1,4,8,16}
RATES_STATIC=${RATES_STATIC:-0.5,2}
SECONDS_PER_RATE=${SECONDS_PER_RATE:-12}
STATIC_RESERVE_S=${STATIC_RESERVE_S:-110}
PHASES=${PHASES:-bench continuous static}
MIN_REQUESTS=${MIN_REQUESTS:-10}
C1_REQUESTS=${C1_REQUESTS:-6}
INPUT_MIN=${INPUT_MIN:-128}
INPUT_MAX=${INPUT_MAX:-512}
OUTPUT_MIN=${OUTPUT_MIN:-64}
OUTPUT_MAX=${OUTPUT_MAX:-256}
SLO_TTFT_MS=${SLO_TTFT_MS:-500}
SLO_TPOT_MS=${SLO_TPOT_MS:-50}
STATIC_BATCH=${STATIC_BATCH:-$SWEEP_MAX_SEQUENCES}
STATIC_TIMEOUT=${STATIC_TIMEOUT:-100ms}
BENCH_PROMPT_LEN=${BENCH_PROMPT_LEN:-320}
BENCH_NEW_TOKENS=${BENCH_NEW_TOKENS:-160}
PORT=${PORT:-8080}
SERVER_START_S=${SERVER_START_S:-180}
TAIL_S=${TAIL_S:-20}
DEADLINE_S=${DEADLINE_S:-540}
SKIP_BENCH=${SKIP_BENCH:-0}
BENCH_SAMPLED=${BENCH_SAMPLED:-0}
SAMPLING_FLAGS=${SAMPLING_FLAGS:---do-sample --temperature=0.8 --top-k=50 --top-p=0.95}
DEFAULT_SAMPLING_BODY='{"temperature": 0.8, "top_k": 50, "top_p": 0.95}'
SAMPLING_BODY=${SAMPLING_BODY:-$DEFAULT_SAMPLING_BODY}
SAT_WAVES=${SAT_WAVES:-3}
PLAN=$CARRY/plans/7b1-serve
BIN=$CARRY/bin
# bloom-serve's shared cpp-httplib (and brotli), carried by prepare_serve_sweep.sh.
if [[ -d $CARRY/lib ]]; then
  export LD_LIBRARY_PATH=$(cd "$CARRY/lib" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
URL=http://127.0.0.1:$PORT
mkdir -p "$OUT/runs"
LOG=$OUT/log.txt
SKIPPED=$OUT/skipped.txt
: >"$LOG"
: >"$SKIPPED"
log() { echo "== [${SECONDS}s] $*" | tee -a "$LOG"; }
# Seconds left; RESERVE keeps some back for a later phase.
RESERVE=0
left() { echo $((DEADLINE_S - RESERVE - SECONDS)); }
# fits SECONDS WHAT: whether a step estimated at SECONDS still fits; if not
# it is named in skipped.txt.
fits() {
  if (($1 < $(left))); then return 0; fi
  log "skipped (needs ~$1 s, $(left) s left): $2"
  echo "$2" >>"$SKIPPED"
  return 1
}

unpack_carried_binaries
[[ -x $BIN/bloom-serve ]] || { log "$BIN/bloom-serve is missing"; exit 2; }
{
  echo "date: $(date -u +%FT%TZ)"
  cat "$CARRY/sweep.env"
  command -v nvidia-smi >/dev/null &&
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  for tool in "$BIN"/*; do echo "ldd $tool:"; ldd "$tool" 2>&1 | grep -E "not found|cublas|nccl"; done
} >>"$LOG" 2>&1

# 0. The GPU tests carried in bin/ (PHASES "gpu_tests"), e.g. the token
# choice's statistical test against the CPU sampler.
if [[ " $PHASES " == *" gpu_tests "* ]]; then
  for test_binary in "$BIN"/cuda_*_test; do
    [[ -x $test_binary ]] || continue
    log "$(basename "$test_binary")"
    timeout "$(left)" "$test_binary" >>"$OUT/gpu_tests.txt" 2>&1 ||
      log "$(basename "$test_binary") FAILED (exit $?)"
  done
  grep -E "^\[  (PASSED|FAILED|SKIPPED) |^  " "$OUT/gpu_tests.txt" | tee -a "$LOG"
fi

# 1. Weights once; a warm machine keeps /tmp.
STAMP="config=$(md5sum <"$CARRY/config.json" | cut -c1-32) dtype=$WORKLOAD_DTYPE seed=$WORKLOAD_SEED shard=$WORKLOAD_MAX_SHARD_BYTES"
if [[ -f $CKPT/.stamp && $(cat "$CKPT/.stamp") == "$STAMP" ]]; then
  log "reusing $CKPT ($STAMP)"
else
  log "make-synthetic-checkpoint -> $CKPT ($STAMP)"
  rm -rf "$CKPT"
  if ! timeout "$(left)" "$BIN/make-synthetic-checkpoint" --config="$CARRY/config.json" -o "$CKPT" \
      --dtype="$WORKLOAD_DTYPE" --seed="$WORKLOAD_SEED" \
      --max-shard-bytes="$WORKLOAD_MAX_SHARD_BYTES" >>"$LOG" 2>&1; then
    log "make-synthetic-checkpoint failed: nothing to measure"
    exit 1
  fi
  echo "$STAMP" >"$CKPT/.stamp"
fi

# 2. bloom-run --bench at batch 1 and at the saturation batch, greedy, and
# with SAMPLING_FLAGS (the device's token choice) when BENCH_SAMPLED=1.
for batch in 1 "$SWEEP_MAX_SEQUENCES"; do
  [[ $SKIP_BENCH -eq 1 || " $PHASES " != *" bench "* ]] && break
  for variant in greedy sampled; do
    [[ $variant == sampled && $BENCH_SAMPLED -ne 1 ]] && continue
    fits 60 "bloom-run --bench --batch=$batch ($variant)" || continue
    extra=()
    suffix=
    if [[ $variant == sampled ]]; then
      read -r -a extra <<<"$SAMPLING_FLAGS"
      suffix=-sampled
    fi
    cmd=("$BIN/bloom-run" "$PLAN" --checkpoint-dir="$CKPT" --backend="$BACKEND" --bench
         --batch="$batch" --prompt-len="$BENCH_PROMPT_LEN" --max-new-tokens="$BENCH_NEW_TOKENS"
         "${extra[@]}")
    log "${cmd[*]}"
    timeout "$(left)" "${cmd[@]}" 2>>"$LOG" | grep '^{' | tail -1 \
      >"$OUT/runs/bench_batch-$batch$suffix.json"
    cat "$OUT/runs/bench_batch-$batch$suffix.json" >>"$LOG"
  done
done

SERVER_PID=
# start_server MODE [FLAGS...]: bloom-serve in the background until /health is 200.
start_server() {
  local mode=$1
  shift
  log "bloom-serve --batching=$mode $*"
  "$BIN/bloom-serve" "$PLAN" --checkpoint-dir="$CKPT" --backend="$BACKEND" --port="$PORT" \
    --max-queue=0 --request-timeout=300s --grace-period=5s --model-name=bloom-7b1 \
    --batching="$mode" "$@" 2>"$OUT/server_$mode.log" &
  SERVER_PID=$!
  local limit=$((SECONDS + SERVER_START_S))
  while ((SECONDS < limit)); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      log "bloom-serve exited while starting: $(tail -3 "$OUT/server_$mode.log")"
      SERVER_PID=
      return 1
    fi
    if python3 -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('$URL/health', timeout=2).status != 200)" 2>/dev/null; then
      log "bloom-serve ready"
      return 0
    fi
    sleep 1
  done
  log "bloom-serve did not become healthy in $SERVER_START_S s"
  stop_server
  return 1
}
stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null
  local limit=$((SECONDS + 15))
  while kill -0 "$SERVER_PID" 2>/dev/null && ((SECONDS < limit)); do sleep 0.5; done
  kill -KILL "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  log "bloom-serve stopped"
  SERVER_PID=
}
trap stop_server EXIT

LOADGEN_ARGS=(--input-len-min "$INPUT_MIN" --input-len-max "$INPUT_MAX" --output-len-min "$OUTPUT_MIN"
              --output-len-max "$OUTPUT_MAX" --vocab-size "$SWEEP_VOCAB" --ignore-eos
              --request-timeout 120 --warmup-requests 1 --quiet)
# sweep_rates LABEL RATES: one sweep.py call per rate, so that a rate that
# cannot finish in time is not started.
sweep_rates() {
  local label=$1 rate count estimate
  for rate in ${2//,/ }; do
    count=$(python3 -c "print(max($MIN_REQUESTS, round($rate * $SECONDS_PER_RATE)))")
    estimate=$(python3 -c "print(int($count / $rate + $TAIL_S))")
    fits "$estimate" "$label at $rate req/s ($count requests)" || continue
    log "$label at $rate req/s: $count requests"
    timeout "$(left)" python3 benchmarks/serve/sweep.py --target "$label=$URL" --rates "$rate" \
      --out-dir "$OUT/runs" --slo-ttft-ms "$SLO_TTFT_MS" --slo-tpot-ms "$SLO_TPOT_MS" \
      -- "${LOADGEN_ARGS[@]}" --num-requests "$count" --seed 1 >>"$LOG" 2>&1 ||
      log "$label at $rate req/s failed (exit $?)"
  done
}

# 3. Continuous batching, then saturation and one request in flight, all
# keeping STATIC_RESERVE_S back for the static sweep (the comparison's other half).
[[ " $PHASES " == *" static "* ]] && RESERVE=$STATIC_RESERVE_S
if [[ " $PHASES " == *" continuous "* ]] && fits 30 "continuous: server start" &&
    start_server continuous; then
  sweep_rates continuous "$RATES_CONTINUOUS"
  sat_requests=${SAT_REQUESTS:-$((2 * SWEEP_MAX_SEQUENCES))}
  sat_estimate=$((sat_requests / SWEEP_MAX_SEQUENCES * 8 + TAIL_S))
  [[ $DRY -eq 1 ]] && sat_estimate=15
  if fits "$sat_estimate" "continuous at saturation ($sat_requests requests)"; then
    log "continuous at saturation: concurrency $SWEEP_MAX_SEQUENCES, $sat_requests requests"
    timeout "$(left)" python3 benchmarks/serve/load_generator.py --url "$URL" \
      --label continuous-saturation --concurrency "$SWEEP_MAX_SEQUENCES" \
      --num-requests "$sat_requests" "${LOADGEN_ARGS[@]}" --seed 3 \
      --output "$OUT/saturation.json" >>"$LOG" 2>&1 || log "saturation failed (exit $?)"
  fi
  c1_estimate=$((C1_REQUESTS * 6 + 10))
  [[ $DRY -eq 1 ]] && c1_estimate=10
  if fits "$c1_estimate" "continuous at concurrency 1 ($C1_REQUESTS requests)"; then
    log "continuous at concurrency 1: $C1_REQUESTS requests"
    timeout "$(left)" python3 benchmarks/serve/load_generator.py --url "$URL" \
      --label continuous-concurrency-1 --concurrency 1 --num-requests "$C1_REQUESTS" \
      "${LOADGEN_ARGS[@]}" --seed 2 --save-requests --slo-ttft-ms "$SLO_TTFT_MS" \
      --slo-tpot-ms "$SLO_TPOT_MS" --output "$OUT/concurrency1.json" >>"$LOG" 2>&1 ||
      log "concurrency 1 failed (exit $?)"
  fi
  stop_server
fi

RESERVE=0

# 3b. Saturation like for like (PHASES "saturation"): --bench's own
# workload (every prompt BENCH_PROMPT_LEN tokens, every output
# BENCH_NEW_TOKENS) from SWEEP_MAX_SEQUENCES clients at once, SAT_WAVES
# times over, greedy and then sampled (SAMPLING_BODY), then one client,
# greedy and sampled. /metrics is read before and after each run: the
# engine's step counters show how its time divides into decode, prefill
# and mixed steps (saturation_metrics.txt).
metric_snapshot() {
  python3 - "$URL" <<'PY'
import json, sys, urllib.request
text = urllib.request.urlopen(sys.argv[1] + "/metrics", timeout=10).read().decode()
values = {}
for line in text.splitlines():
    if line.startswith("bloom:engine_step") or line.startswith("bloom:generation_tokens_total"):
        name, value = line.rsplit(" ", 1)
        values[name] = float(value)
print(json.dumps(values))
PY
}
saturation_run() {  # LABEL CONCURRENCY REQUESTS [load generator flags...]
  local label=$1 concurrency=$2 requests=$3
  shift 3
  fits $((requests / concurrency * 12 + TAIL_S)) "saturation: $label" || return 0
  log "saturation: $label (concurrency $concurrency, $requests requests)"
  local before after
  before=$(metric_snapshot)
  timeout "$(left)" python3 benchmarks/serve/load_generator.py --url "$URL" --label "$label" \
    --concurrency "$concurrency" --num-requests "$requests" --input-len-min "$BENCH_PROMPT_LEN" \
    --input-len-max "$BENCH_PROMPT_LEN" --output-len-min "$BENCH_NEW_TOKENS" \
    --output-len-max "$BENCH_NEW_TOKENS" --vocab-size "$SWEEP_VOCAB" --ignore-eos \
    --request-timeout 120 --warmup-requests 1 --quiet --seed 5 "$@" \
    --output "$OUT/runs/$label.json" >>"$LOG" 2>&1 || log "$label failed (exit $?)"
  after=$(metric_snapshot)
  echo "{\"label\": \"$label\", \"before\": $before, \"after\": $after}" >>"$OUT/saturation_metrics.txt"
}
if [[ " $PHASES " == *" saturation "* ]] && fits 30 "saturation: server start" &&
    start_server continuous; then
  sat_requests=$((SAT_WAVES * SWEEP_MAX_SEQUENCES))
  saturation_run fixed-greedy "$SWEEP_MAX_SEQUENCES" "$sat_requests"
  saturation_run fixed-sampled "$SWEEP_MAX_SEQUENCES" "$sat_requests" --extra-body "$SAMPLING_BODY"
  # The sweep's own mix of lengths (later flags win), for the step counters.
  saturation_run random-greedy "$SWEEP_MAX_SEQUENCES" "$sat_requests" --input-len-min "$INPUT_MIN" \
    --input-len-max "$INPUT_MAX" --output-len-min "$OUTPUT_MIN" --output-len-max "$OUTPUT_MAX"
  saturation_run fixed-greedy-c1 1 "$C1_REQUESTS"
  saturation_run fixed-sampled-c1 1 "$C1_REQUESTS" --extra-body "$SAMPLING_BODY"
  stop_server
fi

# 4. Static batching.
if [[ " $PHASES " == *" static "* ]] && fits 30 "static: server start" && start_server static --static-batch-size="$STATIC_BATCH" \
    --static-batch-timeout="$STATIC_TIMEOUT"; then
  sweep_rates static "$RATES_STATIC"
  stop_server
fi

# 5. The plot, sweep.json and the summary.
log "sweep.py --plot-only"
python3 benchmarks/serve/sweep.py --plot-only --out-dir "$OUT/runs" --baseline static \
  --slo-ttft-ms "$SLO_TTFT_MS" --slo-tpot-ms "$SLO_TPOT_MS" >>"$LOG" 2>&1 ||
  log "sweep.py --plot-only failed"
for f in sweep.json sweep.png; do [[ -f $OUT/runs/$f ]] && mv "$OUT/runs/$f" "$OUT/$f"; done

python3 - "$OUT" "$SWEEP_MAX_SEQUENCES" "$DEADLINE_S" "$SECONDS" <<'PY' | tee -a "$LOG"
import glob, json, os, sys

out, saturation_batch = sys.argv[1], int(sys.argv[2])


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


sweep = load(os.path.join(out, "sweep.json")) or {}
bench = {b: load(os.path.join(out, "runs", f"bench_batch-{b}.json")) for b in (1, saturation_batch)}
c1 = load(os.path.join(out, "concurrency1.json"))
labels = sweep.get("labels", {})
runs = [load(p) for p in sorted(glob.glob(os.path.join(out, "runs", "continuous_rate-*.json")))]
runs = [r for r in runs if r]
saturated = load(os.path.join(out, "saturation.json"))
if saturated:
    runs.append(saturated)
summary = {"kind": "serve_sweep", "slo": sweep.get("slo"),
           "max_rate_under_slo": {k: v.get("max_rate_under_slo") for k, v in labels.items()},
           "continuous_over_static": (sweep.get("ratio_to_baseline") or {}).get("continuous"),
           "bench": bench}
cont, stat = summary["max_rate_under_slo"].get("continuous"), summary["max_rate_under_slo"].get("static")
if isinstance(cont, (int, float)) and isinstance(stat, (int, float)):
    summary["continuous_at_least_3x_static"] = cont >= 3 * stat if stat > 0 else cont > 0
sat = bench.get(saturation_batch) or {}
if runs:
    best = max(runs, key=lambda r: r["output_throughput"])
    summary["saturation"] = {"output_tokens_per_s": best["output_throughput"],
                             "request_rate": best["request_rate"],
                             "bench_decode_tokens_per_s": sat.get("decode_tokens_per_s")}
    if sat.get("decode_tokens_per_s"):
        ratio = best["output_throughput"] / sat["decode_tokens_per_s"]
        summary["saturation"]["over_bench"] = round(ratio, 4)
        summary["saturation"]["at_least_90_percent"] = ratio >= 0.9
if c1:
    step = (bench.get(1) or {}).get("decode_ms_per_step_median")
    requests = c1.get("requests") or []
    entry = {"tpot_ms": c1.get("tpot_ms"), "bench_batch1_decode_ms_per_step_median": step,
             "completed": c1.get("completed"),
             "every_output_max_tokens": bool(requests) and all(
                 r["output_tokens"] == r["max_tokens"] for r in requests)}
    median = (c1.get("tpot_ms") or {}).get("median")
    if step and median:
        entry["tpot_over_bench"] = round(median / step, 4)
        entry["within_5_percent"] = abs(median / step - 1) <= 0.05
    summary["concurrency_1"] = entry
# The saturation phase: each run against --bench on the same requests
# (output tokens over the whole run, prefill included), and the engine's
# time by step kind from the /metrics deltas.
phase = {}
snapshots = {}
try:
    with open(os.path.join(out, "saturation_metrics.txt")) as f:
        for line in f:
            entry = json.loads(line)
            snapshots[entry["label"]] = entry
except (OSError, ValueError):
    pass
for label, bench_batch, bench_file in (("fixed-greedy", saturation_batch, f"bench_batch-{saturation_batch}.json"),
                                       ("random-greedy", saturation_batch, f"bench_batch-{saturation_batch}.json"),
                                       ("fixed-sampled", saturation_batch, f"bench_batch-{saturation_batch}-sampled.json"),
                                       ("fixed-greedy-c1", 1, "bench_batch-1.json"),
                                       ("fixed-sampled-c1", 1, "bench_batch-1-sampled.json")):
    run = load(os.path.join(out, "runs", f"{label}.json"))
    if not run:
        continue
    ref = load(os.path.join(out, "runs", bench_file)) or {}
    entry = {"output_tokens_per_s": run.get("output_throughput"),
             "tpot_ms_median": (run.get("tpot_ms") or {}).get("median"),
             "completed": run.get("completed"), "duration_s": run.get("duration_s"),
             "bench": bench_file, "bench_output_tokens_per_s": ref.get("output_tokens_per_s"),
             "bench_decode_tokens_per_s": ref.get("decode_tokens_per_s"),
             "bench_decode_ms_per_step_median": ref.get("decode_ms_per_step_median")}
    if ref.get("output_tokens_per_s") and run.get("output_throughput"):
        entry["over_bench_output"] = round(run["output_throughput"] / ref["output_tokens_per_s"], 4)
    if ref.get("decode_ms_per_step_median") and entry["tpot_ms_median"] and bench_batch == 1:
        entry["tpot_over_bench_step"] = round(entry["tpot_ms_median"] / ref["decode_ms_per_step_median"], 4)
    snap = snapshots.get(label)
    if snap:
        delta = {k: round(snap["after"].get(k, 0) - snap["before"].get(k, 0), 4)
                 for k in snap["after"]}
        entry["engine_steps"] = delta
        busy = sum(v for k, v in delta.items() if k.startswith("bloom:engine_step_seconds_total"))
        if run.get("duration_s"):
            entry["engine_busy_fraction"] = round(busy / run["duration_s"], 4)
    phase[label] = entry
if phase:
    summary["saturation_phase"] = phase
with open(os.path.join(out, "skipped.txt")) as f:
    summary["skipped"] = [line.strip() for line in f if line.strip()]
summary["seconds"] = int(sys.argv[4])
with open(os.path.join(out, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2)
    f.write("\n")
print(json.dumps(summary, indent=2))
PY
log "done: $(cd "$OUT" && ls summary.json sweep.json sweep.png 2>/dev/null | tr '\n' ' ')"
