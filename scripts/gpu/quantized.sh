#!/usr/bin/env bash
# Quantized weights on the GPU machine (issue 14; docs/quantization.md).
#
#   scripts/gpu/quantized.sh prepare      # here: binaries and plans into .carry/q
#   run(command="bash scripts/gpu/quantized.sh device", carry=[".carry/q"])
#   run(command="PHASES=176b bash scripts/gpu/quantized.sh device", carry=[".carry/q"])
#
# prepare: scripts/gpu/cuda_backend.sh prepare (the GPU suites' binaries
# and plans) with the quantized parity test, bloom-run and the quantized
# GEMM bench added, then
#   - debian-small plans for test/e2e/model_perplexity.py's checks
#     (bf16, int8, int4, int4-lm-head) and the CPU's KL base of its int4
#     plan (the same plan's logits on both backends);
#   - BLOOM-7b1 decode and prefill plans (benchmarks/gpu/workload.sh) in
#     bf16, int8 and int4 g128;
#   - BLOOM-176B with int4 g128 blocks and an int4 LM head at 32 sequences
#     of 32 + 100 tokens, against a layout-only replica (sparse files).
# device, by PHASES (default "tests quality 7b1"; "176b" apart, its load
# generates and quantizes 176e9 weights, 181 s on the H200; TIMEOUT_176B
# and BATCHES_176B bound it):
#   tests    the CUDA suites (cuda_backend.sh device, SKIP_BENCH=1 ATTENTION_BENCH=0) and
#            cuda_quantized_parity_test;
#   quality  model_perplexity.py --backend=cuda on every window, and the
#            CUDA int4 plan against the CPU's int4 base (KL);
#   kernels  quantized_gemm_bench (bandwidth of the fused product);
#   7b1      bloom-cuda-bench of the three 7b1 formats side by side on
#            generated weights (batches 1, 8, 32, 128; prefill 512, 2048);
#   176b     bloom-cuda-bench of the 176B plan (batches 1, 8, 32).
#   sanitize (not by default) cuda_quantized_parity_test's BF16 and layout
#            cases under compute-sanitizer memcheck and racecheck (the
#            fused product stages tiles in shared memory), through
#            cuda_backend.sh sanitize; the tests phase leaves the CUDA
#            suites' own sanitizer runs to cuda_backend.sh device.
# Everything lands in $OUT: log.txt, tests.txt, quality.txt, bench.jsonl
# (sanitizer.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CARRY=${CARRY:-.carry/q}
MODE=${1:-}
COMPILE=${COMPILE:-build/default/bin/bloom-compile}
DEBIAN=models/bloom/debian-small
PRESET_176B=models/bloom/presets/bloom-176b.json
# 32 sequences of 32 + 100 tokens (the DeepSpeed BLOOM benchmark's shape).
FLAGS_176B="--max-sequences=32 --max-seq-len=192 --max-batch-tokens=1024"

prepare() {
  source benchmarks/gpu/workload.sh
  EXTRA_TARGETS="cuda_quantized_parity_test bloom-run quantized_gemm_bench" CARRY=$CARRY \
    COMPILE=$COMPILE bash scripts/gpu/cuda_backend.sh prepare
  local plans=$CARRY/plans
  echo "== debian-small plans"
  local ctx=512 check
  for check in bf16 int8 int4 int4-lm-head; do
    local flags=(--dtype=bf16)
    case $check in
      int8) flags+=(--weights=int8) ;;
      int4) flags+=(--weights=int4) ;;
      int4-lm-head) flags+=(--weights=int4 --quantize-lm-head) ;;
    esac
    "$COMPILE" --model="$DEBIAN" -o "$plans/debian-small/$check" --max-seq-len=$ctx \
      --max-batch-tokens=$ctx --max-logit-rows=$ctx "${flags[@]}"
  done
  build/default/bin/bloom-run "$plans/debian-small/int4" --perplexity="$DEBIAN/eval.txt" \
    --ctx=$ctx --chunks=8 --kl-divergence-base="$plans/debian-small/int4.cpu.kld" >/dev/null
  echo "== BLOOM-7b1 int8 and int4 plans"
  local layout=/tmp/h7-layout/bloom-7b1 weights
  for weights in int8 int4; do
    workload_compile_decode "$COMPILE" "$layout" "$plans/7b1-decode.$weights" --weights=$weights
    workload_compile_prefill "$COMPILE" "$layout" "$plans/7b1-prefill.$weights" --weights=$weights
  done
  echo "== BLOOM-176B int4 plan against a layout-only replica"
  local layout_176b=/tmp/q-layout/bloom-176b
  build/default/bin/make-synthetic-checkpoint --config="$PRESET_176B" -o "$layout_176b" \
    --dtype=bf16 --seed=0 --max-shard-bytes=0 --layout-only >/dev/null
  # shellcheck disable=SC2086  # the limits are words
  "$COMPILE" --model="$layout_176b" -o "$plans/176b.int4" --dtype=bf16 --weights=int4 \
    --quantize-lm-head --device-memory=139GiB $FLAGS_176B
  cp "$PRESET_176B" "$CARRY/bloom-176b.json"
  # The plans' readable IR stays here: the device needs plan.bplan and
  # report.json only, and the tree plus the carry must stay under 64 MiB.
  find "$CARRY/plans" -name "*.mlir" -delete
  echo "== $CARRY: $(du -sh "$CARRY" | cut -f1)"
}

device() {
  OUT=${OUT:-/tmp/q-out}
  mkdir -p "$OUT"
  local bin=$CARRY/bin log=$OUT/log.txt phases=${PHASES:-tests quality 7b1}
  source scripts/gpu/device_setup.sh
  unpack_carried_binaries
  local failed=0
  if [[ " $phases " == *" tests "* ]]; then
    SKIP_BENCH=1 SANITIZE=0 ATTENTION_BENCH=0 EXTRA_TESTS=cuda_quantized_parity_test CARRY=$CARRY OUT=$OUT \
      bash scripts/gpu/cuda_backend.sh device || failed=1
  fi
  if [[ " $phases " == *" sanitize "* ]]; then
    # F16 runs the same kernels as BF16 at the other 16-bit type.
    SANITIZE_TESTS="cuda_quantized_parity_test|memcheck racecheck|QuantizedWeights.*:*/BF16" \
      CARRY=$CARRY OUT=$OUT bash scripts/gpu/cuda_backend.sh sanitize || failed=1
  fi
  if [[ " $phases " == *" quality "* ]]; then
    echo "== quality (debian-small, CUDA, every window)" | tee -a "$log"
    local check
    for check in int8 int4 int4-lm-head; do
      python3 test/e2e/model_perplexity.py --model="$DEBIAN" --bin="$bin" --backend=cuda \
        --plans="$CARRY/plans/debian-small" --check=$check --chunks=0 2>&1 \
        | grep -v "^bloom-run" | tee -a "$OUT/quality.txt" | tee -a "$log" || failed=1
    done
    echo "== CUDA int4 against the CPU's int4 (the same plan, first 8 windows)" | tee -a "$log"
    "$bin/bloom-run" "$CARRY/plans/debian-small/int4" --backend=cuda --checkpoint-dir="$DEBIAN" \
      --perplexity="$DEBIAN/eval.txt" --ctx=512 --chunks=8 \
      --kl-divergence="$CARRY/plans/debian-small/int4.cpu.kld" 2>/dev/null \
      | tee -a "$OUT/quality.txt" | tee -a "$log" || failed=1
  fi
  if [[ " $phases " == *" kernels "* ]]; then
    echo "== quantized_gemm_bench" | tee -a "$log"
    timeout 300 "$bin/quantized_gemm_bench" 2>>"$log" | sed 's/^{/{"variant": "kernels", /' \
      | tee -a "$OUT/bench.jsonl" >/dev/null || failed=1
  fi
  if [[ " $phases " == *" 7b1 "* ]]; then
    source benchmarks/gpu/workload.sh
    local ckpt=/tmp/q-bloom-7b1
    workload_layout "$bin/make-synthetic-checkpoint" "$ckpt" "$CARRY/bloom-7b1.json"
    "$bin/bloom-cuda-bench" --probe 2>>"$log" | tee -a "$OUT/bench.jsonl" || true
    local weights decode prefill
    for weights in bf16 int8 int4; do
      decode=$CARRY/plans/7b1-decode prefill=$CARRY/plans/7b1-prefill
      [[ $weights != bf16 ]] && decode=$decode.$weights prefill=$prefill.$weights
      echo "== 7b1 $weights" | tee -a "$log"
      timeout 300 "$bin/bloom-cuda-bench" --plan="$decode" --checkpoint-dir="$ckpt" \
        --batches="${BATCHES:-1,8,32,128}" --prompt=32 --new-tokens=100 2>>"$log" \
        | sed "s/^{/{\"model\": \"7b1\", \"weights\": \"$weights\", /" \
        | tee -a "$OUT/bench.jsonl" | tee -a "$log" || failed=1
      timeout 300 "$bin/bloom-cuda-bench" --plan="$prefill" --checkpoint-dir="$ckpt" \
        --prefill=512,2048 --batches=1 --prompt=32 --new-tokens=4 2>>"$log" \
        | grep -v '"decode"' | sed "s/^{/{\"model\": \"7b1\", \"weights\": \"$weights\", /" \
        | tee -a "$OUT/bench.jsonl" | tee -a "$log" || failed=1
    done
  fi
  if [[ " $phases " == *" 176b "* ]]; then
    local ckpt=/tmp/q-bloom-176b
    "$bin/make-synthetic-checkpoint" --config="$CARRY/bloom-176b.json" -o "$ckpt" --dtype=bf16 \
      --seed=0 --max-shard-bytes=0 --layout-only >/dev/null
    "$bin/bloom-cuda-bench" --probe 2>>"$log" | tee -a "$OUT/bench.jsonl" || true
    echo "== 176B int4 (load: generated weights, quantized at load)" | tee -a "$log"
    timeout "${TIMEOUT_176B:-540}" "$bin/bloom-cuda-bench" --plan="$CARRY/plans/176b.int4" --checkpoint-dir="$ckpt" \
      --batches="${BATCHES_176B:-1,8,32}" --prompt=32 --new-tokens=100 2>>"$log" \
      | sed 's/^{/{"model": "176b", "weights": "int4", /' | tee -a "$OUT/bench.jsonl" \
      | tee -a "$log" || failed=1
  fi
  exit $failed
}

case $MODE in
  prepare) prepare ;;
  device) device ;;
  *)
    echo "usage: scripts/gpu/quantized.sh prepare|device" >&2
    exit 2
    ;;
esac
