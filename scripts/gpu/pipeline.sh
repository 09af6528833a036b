#!/usr/bin/env bash
# Pipeline parallelism on the GPU machine (issue 16; docs/pipeline-parallel.md):
# pp=2 plans with both stages on the one GPU, against the pp=1 plans and
# transformers' goldens, and a micro-batching bench.
#
#   scripts/gpu/pipeline.sh prepare     # here: binaries and plans into .carry/pp
#   run(command="bash scripts/gpu/pipeline.sh device", carry=[".carry/pp"])
#
# prepare (on the development machine, which has MLIR):
#   1. cuda_golden_test, cuda_tp_test, cuda_pp_test, bloom-run, npy-diff and
#      make-synthetic-checkpoint, runtime only, with
#      scripts/gpu/carry_build.sh (static Abseil and cudart), as
#      scripts/gpu/cuda_backend.sh prepare builds them;
#   2. the golden cases' plans under the names the GPU tests look for
#      (cuda_backend.sh prepare's): <case>[.bf16] (pp=1), <case>.tp<N>[.bf16]
#      (cuda_tp_test's six), and <case>.pp2[.bf16] (--pp=2);
#   3. the bench plans, bf16, BENCH_BATCH sequences, as pp=1 and pp=2
#      (bench-<model>-pp1, bench-<model>-pp2), against layout-only replicas
#      (generated weights: no weights travel) of two models: "full",
#      BENCH_PRESET (bloom-560m) as it is, and "v2048", the same with a
#      vocabulary of 2048 ids. Both take the device's token choice (a
#      pipeline's on its last stage); the difference left between pp=1 and
#      pp=2 is the pipeline's own (the hidden state's host round trip, the
#      stage threads).
# device (on the GPU machine, from the repository root):
#   tests  cuda_pp_test, cuda_tp_test, cuda_golden_test;
#   run    bloom-run --backend=cuda on each golden case's pp=2 plan and its
#          pp=1 plan (fp32 and bf16): the same --tokens prompt, the greedy
#          ids compared, --dump-logits compared with npy-diff (pp=2 against
#          pp=1, and against transformers' logits.npy);
#   bench  bloom-run --backend=cuda --bench on each model's pp=1 plan, and
#          on its pp=2 plan with --max-steps-in-flight=1 and =2, at
#          --batch=BENCH_BATCH and at --batch=1.
#   sanitize  (not by default) cuda_pp_test's f32-basic cases under
#          compute-sanitizer memcheck.
# PHASES (default "tests run bench") picks them. $OUT gets log.txt,
# tests.txt, run.jsonl, bench.jsonl (sanitize.txt); the summary table is printed last.
#
# Environment: CARRY (.carry/pp), BACKEND (device: cuda; cpu dry-runs the
# run and bench phases' logic here with build/default's binaries in
# CARRY/bin), BUILD (build/pp-carry; MPI off, so not
# cuda_backend.sh's), CMAKE_ARGS (more CMake flags), COMPILE
# (build/default/bin/bloom-compile), JOBS (2), SRC (see carry_build.sh),
# BENCH_PRESET (models/bloom/presets/bloom-560m.json), BENCH_BATCH (16),
# BENCH_NEW_TOKENS (64), BENCH_PROMPT_LEN (32).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CARRY=${CARRY:-.carry/pp}
MODE=${1:-}
BENCH_PRESET=${BENCH_PRESET:-models/bloom/presets/bloom-560m.json}
BENCH_BATCH=${BENCH_BATCH:-16}
BENCH_NEW_TOKENS=${BENCH_NEW_TOKENS:-64}
BENCH_PROMPT_LEN=${BENCH_PROMPT_LEN:-32}
BENCH_SEED=0
BENCH_LAYOUTS=/tmp/pp-bench-layout
BENCH_MODELS=${BENCH_MODELS:-full v2048}

# The layout-only replica of bench model $2 (headers only; each rank
# generates its weights from the seed as it loads) from CARRY/bench-$2.json
# with make-synthetic-checkpoint $1: the same flags here and there, or the
# plans name other files.
bench_layout() {
  rm -rf "${BENCH_LAYOUTS:?}/$2"
  "$1" --config="$CARRY/bench-$2.json" -o "$BENCH_LAYOUTS/$2" --dtype=bf16 --seed=$BENCH_SEED \
    --max-shard-bytes=0 --layout-only >/dev/null
}

golden_cases() { ls test/golden/cases; }

# The checkpoint of golden case $1: its own directory unless golden.json
# names another.
golden_checkpoint() {
  local ckpt
  ckpt=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get('checkpoint_dir',''))" \
    "test/golden/cases/$1/golden.json")
  echo "${ckpt:-test/golden/cases/$1}"
}

prepare() {
  local compile=${COMPILE:-build/default/bin/bloom-compile}
  [[ -x $compile ]] || { echo "pipeline.sh: $compile: no bloom-compile (COMPILE=...)" >&2; exit 2; }
  rm -rf "$CARRY"
  mkdir -p "$CARRY/plans"
  # Without MPI: the GPU machine's image is not known to have OpenMPI's
  # shared libraries, and pipeline stages under mpirun are not built yet.
  BUILD=${BUILD:-build/pp-carry} CMAKE_ARGS="-DBLOOM_ENABLE_MPI=OFF ${CMAKE_ARGS:-}" \
    bash scripts/gpu/carry_build.sh "$CARRY/bin" \
    cuda_golden_test cuda_tp_test cuda_pp_test bloom-run npy-diff make-synthetic-checkpoint

  echo "== golden plans with $compile"
  local name model plans=$CARRY/plans
  for name in $(golden_cases); do
    model=$(golden_checkpoint "$name")
    "$compile" --model="$model" -o "$plans/$name"
    "$compile" --model="$model" -o "$plans/$name.bf16" --dtype=bf16
    "$compile" --model="$model" -o "$plans/$name.pp2" --pp=2
    "$compile" --model="$model" -o "$plans/$name.pp2.bf16" --pp=2 --dtype=bf16
  done
  # cuda_tp_test's plans (as scripts/gpu/cuda_backend.sh prepare names them).
  local tp_case tp dtype suffix
  for tp_case in f16-heads6:2:fp32 f16-heads6:3:fp32 f16-heads6:3:bf16 f32-basic:2:fp32 \
                 bf16-long-prompt:4:fp32 bf16-long-prompt:4:bf16; do
    IFS=: read -r name tp dtype <<<"$tp_case"
    suffix=""
    [[ $dtype == bf16 ]] && suffix=.bf16
    "$compile" --model="test/golden/cases/$name" -o "$plans/$name.tp$tp$suffix" --tp="$tp" \
      --dtype="$dtype"
  done

  echo "== bench plans: $BENCH_PRESET (full and v2048), bf16, $BENCH_BATCH sequences, pp=1 and pp=2"
  cp "$BENCH_PRESET" "$CARRY/bench-full.json"
  python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); c["vocab_size"] = 2048
json.dump(c, open(sys.argv[2], "w"), indent=1)' "$BENCH_PRESET" "$CARRY/bench-v2048.json"
  local limits=(--dtype=bf16 --max-sequences="$BENCH_BATCH"
                --max-seq-len=$(( (BENCH_PROMPT_LEN + BENCH_NEW_TOKENS + 63) / 64 * 64 ))
                --max-batch-tokens=$(( BENCH_BATCH * BENCH_PROMPT_LEN )))
  local bench_model
  for bench_model in $BENCH_MODELS; do
    bench_layout "${BUILD:-build/pp-carry}/bin/make-synthetic-checkpoint" "$bench_model"
    "$compile" --model="$BENCH_LAYOUTS/$bench_model" -o "$plans/bench-$bench_model-pp1" "${limits[@]}"
    "$compile" --model="$BENCH_LAYOUTS/$bench_model" -o "$plans/bench-$bench_model-pp2" "${limits[@]}" \
      --pp=2
  done
  # Which code the binaries are: a git tree's commit, or a snapshot's path.
  local rev src=${SRC:-$ROOT}
  if rev=$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null); then
    git -C "$src" diff --quiet HEAD -- runtime test/gpu scripts/gpu 2>/dev/null || rev="$rev+uncommitted"
  else
    rev="the snapshot $src (this tree was at $(git rev-parse --short=12 HEAD))"
  fi
  echo "$rev" >"$CARRY/rev"
  # The device needs the .bplan files and report.json only.
  find "$plans" -name "*.mlir" -delete
  tar -C "$CARRY" -cJf "$CARRY/bin.tar.xz" bin && rm -rf "${CARRY:?}/bin"
  local size
  size=$(du -sm "$CARRY" | cut -f1)
  echo "== $CARRY: ${size} MiB"
  if ((size >= 40)); then
    echo "pipeline.sh: $CARRY is ${size} MiB; with the tree it must stay under the tool's 64 MiB" >&2
    exit 1
  fi
  echo "next: run(command=\"bash scripts/gpu/pipeline.sh device\", carry=[\"$CARRY\"])"
}

device() {
  OUT=${OUT:-/tmp/pp-out}
  mkdir -p "$OUT"
  local bin=$CARRY/bin log=$OUT/log.txt plans phases=${PHASES:-tests run bench}
  local backend=${BACKEND:-cuda}
  plans=$(cd "$CARRY/plans" && pwd)
  source scripts/gpu/device_setup.sh
  unpack_carried_binaries
  export BLOOM_GPU_PLANS=$plans BLOOM_REPO=$ROOT
  {
    echo "== $(date -u +%FT%TZ) $(uname -r), built from $(cat "$CARRY/rev" 2>/dev/null || echo '?')"
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv || true
  } 2>&1 | tee "$log"
  if ldd "$bin/bloom-run" | grep "not found" | tee -a "$log"; then
    echo "pipeline.sh: missing shared libraries" | tee -a "$log"
    exit 1
  fi
  local failed=0
  if [[ " $phases " == *" tests "* ]]; then
    local tests=$OUT/tests.txt t
    : >"$tests"
    for t in cuda_pp_test cuda_tp_test cuda_golden_test; do
      echo "== $t" | tee -a "$log" >>"$tests"
      local started=$SECONDS
      timeout "${TEST_TIMEOUT:-300}" "$bin/$t" >"/tmp/$t.txt" 2>&1 || failed=1
      cat "/tmp/$t.txt" >>"$tests"
      grep -E "^\[  (FAILED|PASSED|SKIPPED) |^\[(pp|tp|golden)\]|Failure|rror" "/tmp/$t.txt" \
        | head -80 | tee -a "$log" || true
      echo "   ($t: $((SECONDS - started)) s)" | tee -a "$log"
    done
  fi
  if [[ " $phases " == *" run "* ]]; then
    echo "== bloom-run --backend=$backend: pp=2 against pp=1 and transformers" | tee -a "$log"
    local name suffix ckpt prompt count tmp=/tmp/pp-run
    mkdir -p "$tmp"
    : >"$OUT/run.jsonl"
    for name in $(golden_cases); do
      ckpt=$(golden_checkpoint "$name")
      prompt=$(python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['prompt_tokens'])))" \
        "test/golden/cases/$name/golden.json")
      count=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['generated_tokens']))" \
        "test/golden/cases/$name/golden.json")
      for suffix in "" .bf16; do
        local pp ok=1
        for pp in pp1 pp2; do
          local dir=$plans/$name${suffix}
          [[ $pp == pp2 ]] && dir=$plans/$name.pp2${suffix}
          if ! "$bin/bloom-run" "$dir" --backend="$backend" --checkpoint-dir="$ckpt" --tokens="$prompt" \
               --max-new-tokens="$count" --dump-logits="$tmp/$name$suffix.$pp.npy" \
               >"$tmp/$name$suffix.$pp.ids" 2>"$tmp/$name$suffix.$pp.err"; then
            ok=0
            sed "s|^|  $name$suffix $pp: |" "$tmp/$name$suffix.$pp.err" | tail -5 | tee -a "$log"
          fi
        done
        if [[ $ok == 1 ]]; then
          local vs_pp1 vs_golden
          vs_pp1=$("$bin/npy-diff" "$tmp/$name$suffix.pp2.npy" "$tmp/$name$suffix.pp1.npy" --atol=1e30 || true)
          vs_golden=$("$bin/npy-diff" "$tmp/$name$suffix.pp2.npy" "test/golden/cases/$name/logits.npy" \
            --atol=1e30 || true)
          python3 - "$name$suffix" "$tmp/$name$suffix.pp1.ids" "$tmp/$name$suffix.pp2.ids" \
            "test/golden/cases/$name/golden.json" "$vs_pp1" "$vs_golden" <<'PY' | tee -a "$OUT/run.jsonl" | tee -a "$log" || failed=1
import json, re, sys
name, pp1, pp2, golden, vs_pp1, vs_golden = sys.argv[1:]
ids = lambda path: [int(t) for t in open(path).read().split()]
want = json.load(open(golden))["generated_tokens"]
diff = lambda text: float(re.search(r"max \|a-b\| = (\S+)", text).group(1))
row = {"case": name, "pp2_tokens_equal_pp1": ids(pp2) == ids(pp1),
       "pp2_tokens_equal_golden": ids(pp2) == want, "max_abs_pp2_vs_pp1": diff(vs_pp1),
       "max_abs_pp2_vs_transformers": diff(vs_golden)}
print(json.dumps(row))
sys.exit(0 if row["pp2_tokens_equal_pp1"] and row["pp2_tokens_equal_golden"] else 1)
PY
        else
          failed=1
        fi
      done
    done
  fi
  if [[ " $phases " == *" bench "* ]]; then
    echo "== bench: prompt $BENCH_PROMPT_LEN, $BENCH_NEW_TOKENS new tokens" | tee -a "$log"
    : >"$OUT/bench.jsonl"
    local bench_model entry plan in_flight batch
    for bench_model in $BENCH_MODELS; do
      bench_layout "$bin/make-synthetic-checkpoint" "$bench_model"
      for batch in "$BENCH_BATCH" 1; do
        for entry in pp1:1 pp2:1 pp2:2; do
          IFS=: read -r plan in_flight <<<"$entry"
          plan=bench-$bench_model-$plan
          timeout 240 "$bin/bloom-run" "$plans/$plan" --backend="$backend" \
            --checkpoint-dir="$BENCH_LAYOUTS/$bench_model" --bench --batch="$batch" \
            --prompt-len="$BENCH_PROMPT_LEN" --max-new-tokens="$BENCH_NEW_TOKENS" --warmup=2 \
            --max-steps-in-flight="$in_flight" 2>>"$log" \
            | sed "s/^{/{\"variant\": \"$plan in-flight=$in_flight\", /" \
            | tee -a "$OUT/bench.jsonl" >/dev/null || failed=1
        done
      done
    done
  fi
  if [[ " $phases " == *" sanitize "* ]] && command -v compute-sanitizer >/dev/null; then
    # The stages' device code under memcheck: one fp32 and one bf16 case
    # (each launch is checked, so the whole suite would take minutes).
    echo "== compute-sanitizer memcheck cuda_pp_test (f32-basic)" | tee -a "$log"
    timeout "${SANITIZE_TIMEOUT:-180}" compute-sanitizer --tool memcheck --error-exitcode 3 \
      "$bin/cuda_pp_test" --gtest_filter='*f32_basic_pp2*' >"$OUT/sanitize.txt" 2>&1 || failed=1
    grep -E "^\[  (FAILED|PASSED) |ERROR SUMMARY|Invalid|rror" "$OUT/sanitize.txt" | head -20 \
      | tee -a "$log" || true
  fi
  echo "== summary" | tee -a "$log"
  python3 - "$OUT" <<'PY' 2>&1 | tee -a "$log" || true
import json, os, re, sys
out = sys.argv[1]
tests = os.path.join(out, "tests.txt")
if os.path.exists(tests):
    text = open(tests).read()
    for suite in re.findall(r"^== (\S+)\n", text, re.M):
        part = text.split(f"== {suite}\n", 1)[1].split("\n== ", 1)[0]
        passed = re.search(r"\[  PASSED  \] (\d+)", part)
        failed = re.findall(r"^\[  FAILED  \] (\S+)", part, re.M)
        skipped = re.search(r"\[  SKIPPED \] (\d+)", part)
        print(f"{suite:18s} passed {passed.group(1) if passed else 0}, skipped "
              f"{skipped.group(1) if skipped else 0}, failed {len(set(failed))} {sorted(set(failed))[:6]}")
for name in ("run.jsonl", "bench.jsonl"):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        continue
    for line in open(path):
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        if name == "run.jsonl":
            print(f"{r['case']:26s} tokens pp2=pp1 {r['pp2_tokens_equal_pp1']}, =golden "
                  f"{r['pp2_tokens_equal_golden']}, max|pp2-pp1| {r['max_abs_pp2_vs_pp1']:.3g}, "
                  f"max|pp2-hf| {r['max_abs_pp2_vs_transformers']:.3g}")
        else:
            print(f"{r['variant']:28s} batch {r['batch']:2d} output tok/s {r['output_tokens_per_s']:9.1f}, decode ms/step "
                  f"{r['decode_ms_per_step_median']:.3f}, ttft {r['ttft_ms']:.1f} ms, in flight "
                  f"{r['max_steps_in_flight']}, {r['device']}")
PY
  exit $failed
}

case $MODE in
  prepare) prepare ;;
  device) device ;;
  *)
    echo "usage: scripts/gpu/pipeline.sh prepare|device" >&2
    exit 2
    ;;
esac
