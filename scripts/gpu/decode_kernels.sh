#!/usr/bin/env bash
# Issue 15's decode-kernel check on the GPU machine, in one device call over
# what `scripts/gpu/cuda_backend.sh prepare` carried (.carry/h7): the
# attention and GEMV parity suites and the goldens (plus EXTRA_TESTS);
# decode attention's bandwidth (attention_decode_bench with ATTENTION_FLAGS,
# and another kernel's binary beside it when carried as
# old/attention_decode_bench.xz); the 7b1 decode bench with its step
# profile, once plain, once per bloom-cuda-bench flag in VARIANT_FLAGS
# (words, e.g. "--gemv-max-rows=8"), and once with another build's
# bloom-cuda-bench when carried as old/bloom-cuda-bench.xz (variant "old");
# prefill; and, with HF_COMPILED=1, transformers compiled with a static
# cache on the same weights (hf_reference.py --compile).
#
#   run(command="bash scripts/gpu/decode_kernels.sh", carry=[".carry/h7"])
#
# At most 8 files come back from $OUT: tests.txt attention_bench.jsonl
# attention_bench_old.jsonl bench.jsonl profile.txt hf.jsonl log.txt.
set -uo pipefail
cd "$(dirname "$0")/../.."
CARRY=${CARRY:-.carry/h7}
OUT=${OUT:-/tmp/decode-kernels-out}
mkdir -p "$OUT"
source scripts/gpu/device_setup.sh
unpack_carried_binaries
export BLOOM_GPU_PLANS=$PWD/$CARRY/plans BLOOM_REPO=$PWD
bin=$CARRY/bin log=$OUT/log.txt failed=0
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem --format=csv 2>&1 | tee "$log"

: >"$OUT/tests.txt"
# shellcheck disable=SC2086  # EXTRA_TESTS is words
for t in cuda_attention_parity_test cuda_op_parity_test cuda_golden_test ${EXTRA_TESTS:-}; do
  echo "== $t" >>"$OUT/tests.txt"
  timeout "${TEST_TIMEOUT:-120}" "$bin/$t" >>"$OUT/tests.txt" 2>&1
  rc=$?
  (( rc != 0 )) && failed=1
  echo "== $t rc=$rc $(grep -cE '^\[       OK' "$OUT/tests.txt") OK so far" | tee -a "$log"
done
grep -E "^\[  FAILED|Failure" "$OUT/tests.txt" | head -20 | tee -a "$log"

echo "== attention_decode_bench" | tee -a "$log"
# shellcheck disable=SC2086  # ATTENTION_FLAGS is words
timeout 120 "$bin/attention_decode_bench" ${ATTENTION_FLAGS:-} >"$OUT/attention_bench.jsonl" 2>>"$log" || failed=1
if [[ -f $CARRY/old/attention_decode_bench.xz ]]; then
  xz -dc "$CARRY/old/attention_decode_bench.xz" >/tmp/old_attention_bench && chmod +x /tmp/old_attention_bench
  timeout 120 /tmp/old_attention_bench >"$OUT/attention_bench_old.jsonl" 2>>"$log" || true
fi

ckpt=/tmp/h7-bloom-7b1
if [[ ! -f $ckpt/model.safetensors ]]; then
  "$bin/make-synthetic-checkpoint" --config="$CARRY/bloom-7b1.json" -o "$ckpt" --dtype=bf16 --seed=0 2>&1 | tail -2 | tee -a "$log"
fi
gbps=$("$bin/bloom-cuda-bench" --probe 2>/dev/null | tee -a "$OUT/bench.jsonl" |
  python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["device_copy_gb_per_s"])' 2>/dev/null) || gbps=""
# shellcheck disable=SC2206  # VARIANT_FLAGS is words
variants=(base ${VARIANT_FLAGS:-})
if [[ -f $CARRY/old/bloom-cuda-bench.xz ]]; then
  xz -dc "$CARRY/old/bloom-cuda-bench.xz" >/tmp/old-bloom-cuda-bench && chmod +x /tmp/old-bloom-cuda-bench
  variants+=(old)
fi
for variant in "${variants[@]}"; do
  flags=()
  bench_bin=$bin/bloom-cuda-bench
  if [[ $variant == old ]]; then
    bench_bin=/tmp/old-bloom-cuda-bench
  elif [[ $variant != base ]]; then
    flags=("$variant")
  fi
  echo "== decode $variant (floors at ${gbps:-default} GB/s)" | tee -a "$log" "$OUT/profile.txt" >/dev/null
  timeout 150 "$bench_bin" "${flags[@]}" --profile=1 ${gbps:+--profile-gb-per-s="$gbps"} \
    --plan="$CARRY/plans/7b1-decode" --checkpoint-dir="$ckpt" --batches="${BATCHES:-1,8,32,64,128}" \
    --prompt=32 --new-tokens=100 2>>"$OUT/profile.txt" | sed "s/^{/{\"variant\": \"$variant\", /" \
    | tee -a "$OUT/bench.jsonl" | cut -c1-200 | tee -a "$log" || failed=1
done
timeout 100 "$bin/bloom-cuda-bench" --plan="$CARRY/plans/7b1-prefill" --checkpoint-dir="$ckpt" \
  --prefill=512,2048 --batches=1 --prompt=32 --new-tokens=20 2>&1 | grep '^{"kind": "prefill' \
  | tee -a "$OUT/bench.jsonl" | tee -a "$log" || failed=1

if [[ ${HF_COMPILED:-0} == 1 ]]; then
  echo "== hf_reference.py --compile" | tee -a "$log"
  timeout "${HF_TIMEOUT:-200}" python3 benchmarks/gpu/hf_reference.py --checkpoint="$ckpt" --compile \
    --batches="${HF_BATCHES:-1,64}" --prompt-len=32 --new-tokens="${HF_NEW_TOKENS:-100}" \
    --ttft-prompts="${HF_TTFT:-}" --check-generate=0 --out "$OUT/hf.jsonl" 2>&1 | tail -15 | tee -a "$log"
fi
exit $failed
