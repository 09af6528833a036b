#!/usr/bin/env bash
# The CUDA backend's one script for the GPU machine (docs/cuda-backend.md).
#
#   scripts/gpu/cuda_backend.sh prepare   # here: build and compile into .carry/h7
#   run(command="bash scripts/gpu/cuda_backend.sh device", carry=[".carry/h7"])
#
# prepare (on the development machine, which has MLIR, Abseil, FlatBuffers):
#   1. the CUDA runtime, the GPU tests and bloom-cuda-bench, runtime only,
#      Abseil linked statically (benchmarks/gpu/cmake/absl) and cudart
#      statically, into CARRY/bin (cuBLASLt stays the machine's shared one),
#      with scripts/gpu/carry_build.sh;
#   2. the golden cases' plans, fp32 and bf16, with bloom-compile into
#      CARRY/plans/<case>[.bf16];
#   3. BLOOM-7b1-shaped plans (bf16) compiled against a layout-only replica
#      of the synthetic checkpoint (sparse files here), at the workload of
#      benchmarks/gpu/workload.sh: CARRY/plans/7b1-decode (128 sequences of
#      32 + 100 tokens, a 4096-token prefill step) and CARRY/plans/7b1-prefill
#      (one sequence of 2048+ positions), plus make-synthetic-checkpoint to
#      write the real weights there.
# device (on the GPU machine, from the repository root):
#   ldd and nvidia-smi; the op parity harness; the GPU goldens; unless
#   SANITIZE=0, compute-sanitizer memcheck and racecheck over the GPU tests'
#   small cases (SANITIZE_CASES below; $OUT/sanitizer.txt; `sanitize` runs
#   that phase alone); then, unless
#   SKIP_BENCH=1, the 7b1 weights and bloom-cuda-bench; with PROFILE=1 an
#   ncu kernel breakdown of decode steps; STEP_PROFILE=1 (the default here;
#   2 lists every instruction, 0 none) makes bloom-cuda-bench --profile print
#   the executor's own per-instruction breakdown of one step per decode
#   bucket into $OUT/profile.txt;
#   VARIANTS="name:--flag=VALUE:batches ..." reruns the decode bench with a
#   bloom-cuda-bench flag (e.g. gemv0:--gemv-max-rows=0:1,8, or
#   tuned:--gemm-tune:1,128) into bench.jsonl, each line tagged by the run's
#   name on stderr;
#   TIER=1 runs the 6 GiB tiered plan (tokens checked against the
#   resident plan's) and Accelerate's offload of the same weights;
#   RANK_GROUP_BATCHES=1,64 reruns decode through a one-rank RankGroup
#   (bloom-cuda-bench --rank-group); and h9's
#   benchmarks/gpu/run_benchmark.sh if RUN_HF_BENCH=1 and .carry/bench is
#   carried too. Logs and JSON go to $OUT.
#   ATTENTION_BENCH=1 (the default; 0 skips it) runs attention_decode_bench,
#   which prepare builds too (decode attention's bandwidth across batch and
#   context, docs/benchmarks.md; no checkpoint needed), with ATTENTION_FLAGS
#   as its flags, into $OUT/attention_bench.jsonl and the log.
#
# Environment: EXTRA_TARGETS (prepare: more targets to build and carry),
# EXTRA_TESTS (device: more GPU test binaries to run with the others),
# CARRY (.carry/h7), BUILD (build/h7-carry), COMPILE (a
# bloom-compile binary; default build/h7/bin/bloom-compile), JOBS (2), SRC
# (the source tree whose binaries are built, default this one: a clean
# snapshot helps when other work in the tree is half-written; see
# scripts/gpu/carry_build.sh), PLANS (a directory of plans
# compiled before, copied instead of compiling: the compiler is not needed
# when only the runtime changed).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CARRY=${CARRY:-.carry/h7}
MODE=${1:-}

prepare() {
  local build=${BUILD:-build/h7-carry}
  local compile=${COMPILE:-build/h7/bin/bloom-compile}
  source benchmarks/gpu/workload.sh
  # shellcheck disable=SC2206  # EXTRA_TARGETS is words
  local targets=(cuda_op_parity_test cuda_attention_parity_test cuda_attention_work_test
                 cuda_golden_test cuda_tp_test cuda_tier_test nccl_communicator_test
                 bloom-cuda-bench make-synthetic-checkpoint attention_decode_bench
                 ${EXTRA_TARGETS:-})
  rm -rf "$CARRY"
  mkdir -p "$CARRY/plans"
  BUILD=$build bash scripts/gpu/carry_build.sh "$CARRY/bin" "${targets[@]}"

  if [[ -n ${PLANS:-} ]]; then
    cp -r "$PLANS"/. "$CARRY/plans/"
    cp "$WORKLOAD_CONFIG" "$CARRY/bloom-7b1.json"
    echo "== $CARRY: $(du -sh "$CARRY" | cut -f1) (plans copied from $PLANS)"
    return 0
  fi
  echo "== golden plans with $compile"
  for case_dir in test/golden/cases/*/; do
    local name
    name=$(basename "$case_dir")
    local model=$case_dir
    local ckpt
    ckpt=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get('checkpoint_dir',''))" "$case_dir/golden.json")
    [[ -n $ckpt ]] && model=$ckpt
    "$compile" --model="$model" -o "$CARRY/plans/$name"
    "$compile" --model="$model" -o "$CARRY/plans/$name.bf16" --dtype=bf16
  done
  # Tensor-parallel plans for cuda_tp_test: a head count of 6 at tp=2 and 3,
  # 4 heads at tp=2, 12 heads and a long prompt at tp=4.
  local tp_case
  for tp_case in f16-heads6:2:fp32 f16-heads6:3:fp32 f16-heads6:3:bf16 f32-basic:2:fp32 \
                 bf16-long-prompt:4:fp32 bf16-long-prompt:4:bf16; do
    IFS=: read -r name tp dtype <<<"$tp_case"
    local suffix=""
    [[ $dtype == bf16 ]] && suffix=.bf16
    "$compile" --model="test/golden/cases/$name" -o "$CARRY/plans/$name.tp$tp$suffix" --tp="$tp" \
      --dtype="$dtype"
  done

  # Tiered plans for cuda_tier_test: every weight unit in pinned host
  # memory, or on disk.
  for name in f32-basic bf16-long-prompt; do
    for tier in host disk; do
      "$compile" --model="test/golden/cases/$name" -o "$CARRY/plans/$name.$tier" --offload=$tier
      "$compile" --model="test/golden/cases/$name" -o "$CARRY/plans/$name.$tier.bf16" \
        --offload=$tier --dtype=bf16
    done
  done

  echo "== BLOOM-7b1 plans (benchmarks/gpu/workload.sh) against a layout-only replica"
  local layout=/tmp/h7-layout/bloom-7b1
  workload_layout "$CARRY/bin/make-synthetic-checkpoint" "$layout"
  workload_compile_decode "$compile" "$layout" "$CARRY/plans/7b1-decode"
  workload_compile_prefill "$compile" "$layout" "$CARRY/plans/7b1-prefill"
  # Memory tiering: the same model in 6 GiB of GPU memory, the other weight
  # units streamed from pinned host memory (issue 7).
  "$compile" --model="$layout" -o "$CARRY/plans/7b1-tier6" --dtype="$WORKLOAD_DTYPE" \
    --max-sequences=1 --max-seq-len=160 --max-batch-tokens=512 \
    --device-memory=6GiB --host-memory=100GiB
  cp "$WORKLOAD_CONFIG" "$CARRY/bloom-7b1.json"
  # The binaries travel compressed (the device tool carries 64 MiB at most;
  # each GPU test links the kernels statically); device() unpacks them.
  tar -C "$CARRY" -cJf "$CARRY/bin.tar.xz" bin && rm -rf "$CARRY/bin"
  echo "== $CARRY: $(du -sh "$CARRY" | cut -f1)"
  echo "next: run(command=\"bash scripts/gpu/cuda_backend.sh device\", carry=[\"$CARRY\"])"
}

# compute-sanitizer over the GPU tests (issue 15): memcheck (out-of-bounds
# and misaligned accesses to global, local and shared memory, device
# exceptions) and racecheck (hazards between threads of a block on shared
# memory only: it cannot see races on global memory). Instrumented kernels
# run 10-100x slower, so each binary runs its small cases, by a gtest
# filter, most telling first; a run starts only while SANITIZE_BUDGET
# seconds (150) are not spent, and stops after SANITIZE_TIMEOUT (60).
#   binary | tools | filter
# Left out: the F32 and F16 instances of the op and attention cases (the
# same kernels at other widths) and head dims 64 and 16; the other golden,
# tp and tier cases (the same executor paths on other shapes);
# cuda_attention_work_test (host code only) and nccl_communicator_test
# (NCCL's kernels, not ours). Racecheck runs where our shared-memory
# kernels are (the ops, attention, the quantized GEMM); the executor suites
# call the same kernels, so they get memcheck (the arena's offsets) only.
SANITIZE_CASES=(
  "cuda_op_parity_test|memcheck racecheck|Storage/OpParity.*/BF16:OpParityArgMax.*"
  "cuda_attention_parity_test|memcheck racecheck|*/BF16_d128:*/F16_d40"
  "cuda_golden_test|memcheck|*f32_basic_bf16:*bf16_long_prompt_bf16"
  "cuda_tier_test|memcheck|*f32_basic_bf16_host"
  "cuda_tp_test|memcheck|*f16_heads6_tp2_fp32"
)

# racecheck cannot follow the mbarrier and TMA synchronisation of
# cuBLASLt's Hopper kernels: on the H200 it reported hazards between the
# shared-memory reads and writes inside nvjet_sm90_* kernels (2026-12-04),
# and excluding them (--kernel-name-exclude kns=nvjet) made the sanitizer
# itself fail ("failed to handle a hardware exception"). So racecheck runs
# every kernel, and a run whose every race report names such a kernel
# counts as clean, saying so; a race in any other kernel fails it.
RACECHECK_LIBRARY_KERNELS=${RACECHECK_LIBRARY_KERNELS:-nvjet_}
#   racecheck_only_in_library FILE ERRORS: true when FILE's race reports
#   number ERRORS and each is at a kernel whose name starts with one of
#   RACECHECK_LIBRARY_KERNELS's prefixes (words).
racecheck_only_in_library() {
  local file=$1 errors=$2 reports library=0 prefix
  reports=$(grep -cE "^========= Error: Race reported between" "$file" || true)
  for prefix in $RACECHECK_LIBRARY_KERNELS; do
    library=$((library + $(grep -cE "^========= Error: Race reported between .* at $prefix" "$file" || true)))
  done
  (( reports > 0 && reports == library && reports == errors ))
}

# One verdict for one sanitizer run's output FILE (exit status RC) of TOOL,
# stopped by its timeout when TIMED_OUT is 1, as "STATUS|DETAIL": clean,
# FAILED (errors, tests that failed under the tool, or a run that died
# before its summary), INCOMPLETE (timed out with no error seen) or SKIPPED
# (every case skipped: no GPU).
#   sanitize_verdict FILE RC TOOL TIMED_OUT
sanitize_verdict() {
  # Under pipefail a grep that finds nothing fails its pipeline: "|| true".
  local file=$1 rc=$2 tool=$3 timed_out=$4 summary="" errors=0
  if [[ $tool == racecheck ]]; then
    summary=$(grep -oE "RACECHECK SUMMARY: [0-9]+ hazards? displayed \([0-9]+ errors?, [0-9]+ warnings?\)" \
      "$file" | tail -1 || true)
    [[ -n $summary ]] && errors=$(sed -E 's/.*\(([0-9]+) error.*/\1/' <<<"$summary")
  fi
  if [[ -z $summary ]]; then
    summary=$(grep -oE "ERROR SUMMARY: [0-9]+ errors?" "$file" | tail -1 || true)
    [[ -n $summary ]] && errors=$(grep -oE "[0-9]+" <<<"$summary" | head -1)
  fi
  local passed skipped
  passed=$(grep -oE "^\[  PASSED  \] [0-9]+" "$file" | grep -oE "[0-9]+$" | tail -1 || true)
  skipped=$(grep -oE "^\[  SKIPPED \] [0-9]+" "$file" | grep -oE "[0-9]+$" | tail -1 || true)
  local tests="${passed:-0} passed, ${skipped:-0} skipped"
  if [[ $timed_out == 1 ]]; then
    if grep -qE "^========= (Invalid|Error|Race|Barrier|Program hit)" "$file"; then
      echo "FAILED|errors before the timeout (${SANITIZE_TIMEOUT:-60} s); $tests"
    else
      echo "INCOMPLETE|timed out after ${SANITIZE_TIMEOUT:-60} s, no error seen; $tests"
    fi
  elif [[ -z $summary ]]; then
    echo "FAILED|no summary: the run died (exit $rc); $tests"
  elif (( errors > 0 )) && [[ $tool == racecheck ]] && racecheck_only_in_library "$file" "$errors" &&
       ! grep -qE "^\[  FAILED  \]" "$file"; then
    echo "clean|$summary, every one inside cuBLASLt's kernels ($RACECHECK_LIBRARY_KERNELS), which racecheck cannot follow; $tests"
  elif (( errors > 0 )); then
    echo "FAILED|$summary; $tests"
  elif [[ $rc != 0 ]]; then
    echo "FAILED|$summary, but exit $rc (tests failed under $tool); $tests"
  elif [[ ${passed:-0} == 0 ]]; then
    echo "SKIPPED|$summary, no case ran; $tests"
  else
    echo "clean|$summary; $tests"
  fi
}

# Runs SANITIZE_CASES (or SANITIZE_TESTS, the same "binary|tools|filter"
# entries space-separated, for other scripts' binaries) from $CARRY/bin;
# appends each run's output to $OUT/sanitizer.txt and one summary line per
# binary and tool to $OUT/log.txt and stdout. Returns 1 when a run failed.
sanitize() {
  local bin=$CARRY/bin log=$OUT/log.txt report=$OUT/sanitizer.txt failed=0
  local cases=("${SANITIZE_CASES[@]}")
  # read -a: the filters' stars stay stars (no file names).
  [[ -n ${SANITIZE_TESTS:-} ]] && read -ra cases <<<"$SANITIZE_TESTS"
  local sanitizer=${COMPUTE_SANITIZER:-/usr/local/cuda/bin/compute-sanitizer}
  [[ -x $sanitizer ]] || sanitizer=$(command -v compute-sanitizer || true)
  echo "== compute-sanitizer (${sanitizer:-not found})" | tee -a "$log"
  local entry name tools filter tool start=$SECONDS budget=${SANITIZE_BUDGET:-150}
  # memcheck over every binary before any racecheck: a budget spent early
  # costs racecheck's slower runs first.
  for tool in memcheck racecheck; do
    for entry in "${cases[@]}"; do
      IFS='|' read -r name tools filter <<<"$entry"
      [[ " $tools " == *" $tool "* ]] || continue
      local verdict limit=${SANITIZE_TIMEOUT:-60} left=$((budget - (SECONDS - start)))
      if [[ -z $sanitizer ]]; then
        verdict="SKIPPED|compute-sanitizer not found (/usr/local/cuda/bin, PATH): not checked"
      elif [[ ! -x $bin/$name ]]; then
        verdict="FAILED|$bin/$name not found"
      elif (( left < 10 )); then
        verdict="SKIPPED|the ${budget} s budget was spent"
      else
        (( left < limit )) && limit=$left
        local run=/tmp/sanitize-$name-$tool.txt rc=0 began=$SECONDS
        timeout --kill-after=10 "$limit" "$sanitizer" --tool "$tool" --error-exitcode 1 \
          "$bin/$name" --gtest_filter="$filter" >"$run" 2>&1 || rc=$?
        # A run that reports thousands of errors keeps its head and its
        # summary (the device tool returns 16 MiB a file).
        { echo "== $name $tool (--gtest_filter=$filter; exit $rc, $((SECONDS - start)) s into the phase)"
          local lines
          lines=$(wc -l <"$run")
          if (( lines > 420 )); then
            head -n 400 "$run"
            echo "... $((lines - 420)) lines left out ..."
            tail -n 20 "$run"
          else
            cat "$run"
          fi; } >>"$report"
        # 137 is also a kill from elsewhere (memory): a timeout only at the limit.
        local timed_out=0
        [[ $rc == 124 || ($rc == 137 && $((SECONDS - began)) -ge $limit) ]] && timed_out=1
        verdict=$(SANITIZE_TIMEOUT=$limit sanitize_verdict "$run" "$rc" "$tool" "$timed_out")
      fi
      [[ $verdict == FAILED* ]] && failed=1
      echo "sanitize $name $tool: ${verdict%%|*} (${verdict#*|})" | tee -a "$log"
    done
  done
  return $failed
}

device() {
  OUT=${OUT:-/tmp/h7-out}
  mkdir -p "$OUT"
  local bin=$CARRY/bin log=$OUT/log.txt
  source scripts/gpu/device_setup.sh
  unpack_carried_binaries
  export BLOOM_GPU_PLANS=$ROOT/$CARRY/plans BLOOM_REPO=$ROOT
  {
    echo "== $(date -u +%FT%TZ) $(uname -r)"
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv || true
    echo "== ldd"
    ldd "$bin/bloom-cuda-bench"
  } 2>&1 | tee "$log"
  if ldd "$bin/bloom-cuda-bench" | grep -q "not found"; then
    echo "cuda_backend.sh: missing shared libraries" | tee -a "$log"
    exit 1
  fi
  local failed=0
  # One file for all test output: the device tool returns at most 8 files.
  local tests=$OUT/tests.txt
  : >"$tests"
  # shellcheck disable=SC2086  # EXTRA_TESTS is words
  for t in cuda_attention_work_test cuda_op_parity_test cuda_attention_parity_test cuda_golden_test \
           cuda_tp_test cuda_tier_test nccl_communicator_test ${EXTRA_TESTS:-}; do
    echo "== $t" | tee -a "$log" "$tests" >/dev/null
    echo "== $t"
    if ! timeout "${TEST_TIMEOUT:-300}" "$bin/$t" >"/tmp/$t.txt" 2>&1; then
      failed=1
    fi
    cat "/tmp/$t.txt" >>"$tests"
    grep -E "^\[  (FAILED|PASSED|SKIPPED) |golden\]|^\[tp\]|^\[tier\]|Failure|error|^(PASS|FAIL|SKIPPED)" "/tmp/$t.txt" | head -60 | tee -a "$log" || true
  done
  if [[ ${SANITIZE:-1} != 0 ]]; then
    : >"$OUT/sanitizer.txt"
    sanitize || failed=1
  fi
  if [[ ${ATTENTION_BENCH:-1} == 1 && ! -x $bin/attention_decode_bench ]]; then
    echo "== attention_decode_bench: not in $bin (a carry prepared before it), skipped" | tee -a "$log"
  elif [[ ${ATTENTION_BENCH:-1} == 1 ]]; then
    # Exits 1 when its check against the host fails (no figures then).
    echo "== attention_decode_bench ${ATTENTION_FLAGS:-}" | tee -a "$log"
    # shellcheck disable=SC2086  # ATTENTION_FLAGS is words
    timeout 120 "$bin/attention_decode_bench" ${ATTENTION_FLAGS:-} 2>/tmp/attention_bench.err \
      | tee "$OUT/attention_bench.jsonl" | tee -a "$log" || failed=1
    cat /tmp/attention_bench.err >>"$log"
  fi
  if [[ ${SKIP_BENCH:-0} != 1 ]]; then
    local ckpt=/tmp/h7-bloom-7b1
    if [[ ! -f $ckpt/model.safetensors.index.json && ! -f $ckpt/model.safetensors ]]; then
      echo "== make-synthetic-checkpoint -> $ckpt" | tee -a "$log"
      "$bin/make-synthetic-checkpoint" --config="$CARRY/bloom-7b1.json" -o "$ckpt" --dtype=bf16 --seed=0 \
        2>&1 | tee -a "$log"
    fi
    # The step profile's floors at this GPU's measured bandwidth, not the
    # H100 default (runtime/cuda/step_profile.h).
    local probe gbps
    probe=$("$bin/bloom-cuda-bench" --probe 2>>"$log" | tee -a "$OUT/bench.jsonl") || true
    gbps=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["device_copy_gb_per_s"])' \
      "$probe" 2>/dev/null) || gbps=""
    echo "== bloom-cuda-bench (profile floors at ${gbps:-the default} GB/s)" | tee -a "$log"
    timeout "${BENCH_TIMEOUT:-300}" "$bin/bloom-cuda-bench" \
      --profile="${STEP_PROFILE:-1}" ${gbps:+--profile-gb-per-s="$gbps"} --plan="$CARRY/plans/7b1-decode" \
      --checkpoint-dir="$ckpt" --batches="${BATCHES:-1,8,32,64,128}" --prompt=32 --new-tokens=100 \
      2>>"$OUT/profile.txt" | tee "$OUT/bench.jsonl" | tee -a "$log" || failed=1
    grep -A14 "^== profile" "$OUT/profile.txt" | grep -vE "^  +[0-9]+ " | tee -a "$log" || true
    for variant in ${VARIANTS:-}; do
      IFS=: read -r name setting batches <<<"$variant"
      echo "== bloom-cuda-bench, variant $name ($setting, batches $batches)" | tee -a "$log"
      timeout "${BENCH_TIMEOUT:-300}" "$bin/bloom-cuda-bench" "$setting" --plan="$CARRY/plans/7b1-decode" \
        --checkpoint-dir="$ckpt" --batches="$batches" --prompt=32 --new-tokens=100 2>&1 \
        | sed "s/^{/{\"variant\": \"$name\", /" | tee -a "$OUT/bench.jsonl" | tee -a "$log" || failed=1
    done
    if [[ -n ${RANK_GROUP_BATCHES:-} ]]; then
      # The same tp=1 plan through a one-rank RankGroup of CUDA ranks (the
      # tensor-parallel path bloom-run takes), beside the lone executor's
      # figures above.
      echo "== bloom-cuda-bench --rank-group (batches $RANK_GROUP_BATCHES)" | tee -a "$log"
      timeout "${BENCH_TIMEOUT:-300}" "$bin/bloom-cuda-bench" --plan="$CARRY/plans/7b1-decode" \
        --checkpoint-dir="$ckpt" --batches="$RANK_GROUP_BATCHES" --prompt=32 --new-tokens=100 \
        --rank-group 2>&1 | sed 's/^{/{"variant": "rank-group", /' | tee -a "$OUT/bench.jsonl" \
        | tee -a "$log" || failed=1
    fi
    timeout "${BENCH_TIMEOUT:-300}" "$bin/bloom-cuda-bench" --plan="$CARRY/plans/7b1-prefill" \
      --checkpoint-dir="$ckpt" --prefill="${PREFILL:-512,2048}" --batches=1 --prompt=32 --new-tokens=20 \
      2>&1 | tee -a "$OUT/bench.jsonl" | tee -a "$log" || failed=1
  fi
  if [[ ${TIER:-0} == 1 ]]; then
    # Memory tiering: the links, the 6 GiB plan (tokens against the resident
    # plan's batch-1 run above: the same seeded prompt), and Accelerate's
    # offload of the same weights into the same 6 GiB.
    echo "== tiering" | tee -a "$log"
    "$bin/bloom-cuda-bench" --probe 2>&1 | tee -a "$OUT/bench.jsonl" | tee -a "$log" || failed=1
    timeout "${BENCH_TIMEOUT:-300}" "$bin/bloom-cuda-bench" \
      --plan="$CARRY/plans/7b1-tier6" --checkpoint-dir=/tmp/h7-bloom-7b1 --batches=1 --prompt=32 \
      --new-tokens="${TIER_TOKENS:-20}" 2>&1 | sed 's/^{/{"variant": "tier6", /' \
      | tee -a "$OUT/bench.jsonl" | tee -a "$log" || failed=1
    python3 - "$OUT/bench.jsonl" <<'PY' 2>&1 | tee -a "$log" || failed=1
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
decode = [l for l in lines if l.get("kind") == "decode" and l.get("batch") == 1]
resident = next(l for l in decode if "variant" not in l)["first_sequence_tokens"]
tiered = next(l for l in decode if l.get("variant") == "tier6")["first_sequence_tokens"]
same = resident[: len(tiered)] == tiered
print(json.dumps({"kind": "tier_tokens", "identical_to_resident": same, "compared": len(tiered)}))
sys.exit(0 if same else 1)
PY
    if [[ -f benchmarks/gpu/hf_offload.py ]]; then
      timeout "${HF_TIMEOUT:-240}" python3 benchmarks/gpu/hf_offload.py --checkpoint=/tmp/h7-bloom-7b1 \
        --new-tokens="${TIER_TOKENS:-20}" 2>>"$OUT/hf_offload.err" | tee -a "$OUT/bench.jsonl" \
        | tee -a "$log" || true
      tail -5 "$OUT/hf_offload.err" >>"$log" 2>/dev/null || true
    fi
  fi
  if [[ ${PROFILE:-0} == 1 ]] && command -v ncu >/dev/null; then
    # Kernel-by-kernel breakdown of eager decode steps (graphs off, so
    # each launch is its own result): skip the load, prefill and first
    # steps, then profile about one step's launches.
    for batch in 1 128; do
      echo "== ncu decode batch $batch" | tee -a "$log"
      # ncu replays each launch ~10 times: 130 launches (about 12 layers) fit in 150 s.
      timeout 150 ncu --launch-skip 1500 --launch-count 130 --print-summary per-kernel \
        "$bin/bloom-cuda-bench" --plan="$CARRY/plans/7b1-decode" --checkpoint-dir=/tmp/h7-bloom-7b1 \
        --batches=$batch --prompt=32 --new-tokens=12 --no-graphs >"$OUT/profile_b$batch.txt" 2>&1 || true
      grep -E "^  [A-Za-z_]|Duration" "$OUT/profile_b$batch.txt" | head -80 >>"$log" || true
    done
  fi
  if [[ ${RUN_HF_BENCH:-0} == 1 && -f .carry/bench/bench.env ]]; then
    echo "== benchmarks/gpu/run_benchmark.sh" | tee -a "$log"
    OUT=$OUT/hf bash benchmarks/gpu/run_benchmark.sh .carry/bench 2>&1 | tail -40 | tee -a "$log" || failed=1
  fi
  return $failed
}

case $MODE in
  prepare) prepare ;;
  device) device ;;
  sanitize)
    # The phase alone (quantized.sh's sanitize phase runs its binary so):
    # appends to $OUT/sanitizer.txt.
    OUT=${OUT:-/tmp/h7-out}
    mkdir -p "$OUT"
    source scripts/gpu/device_setup.sh
    unpack_carried_binaries
    export BLOOM_GPU_PLANS=${BLOOM_GPU_PLANS:-$ROOT/$CARRY/plans} BLOOM_REPO=${BLOOM_REPO:-$ROOT}
    sanitize ;;
  *) echo "usage: scripts/gpu/cuda_backend.sh prepare|device|sanitize" >&2; exit 2 ;;
esac
