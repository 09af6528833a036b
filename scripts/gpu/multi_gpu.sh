#!/usr/bin/env bash
# Issue 8's runs, for a machine with several GPUs (nvidia-h200-x2/-x4/-x8):
# NCCL parity, BLOOM-7b1 scaling over tp, and BLOOM-176B at tp=8 with
# generated weights (docs/architecture.md, "Generated weights").
#
#   COMPILE=build/default/bin/bloom-compile bash scripts/gpu/multi_gpu.sh prepare
#   run(kind="nvidia-h200-x8", command="bash scripts/gpu/multi_gpu.sh device",
#       carry=[".carry/h8"])
#
# prepare (here): everything scripts/gpu/cuda_backend.sh prepare carries
# (binaries, golden and tp golden plans) into CARRY (.carry/h8), plus
# decode plans compiled against layout-only replicas (sparse files here),
# at the decode workload of benchmarks/gpu/workload.sh: 7b1-tp1/2/4/8 (128
# sequences of 32 + 100 tokens) and, unless NO_176B=1, 176b-tp8 (the same
# workload; about 57 GB per GPU).
# device (there): the layout-only replicas again (headers only: a second),
# whose values every rank generates for its own slices as it loads, so
# 352 GB of bf16 weights need no disk; cuda_tp_test (NCCL when every rank
# has a GPU); bloom-cuda-bench --rank-group on each tp plan that fits the
# GPUs present. Logs and JSON lines into $OUT.
#
# Not yet run anywhere: no multi-GPU machine has been lent so far.
set -euo pipefail
cd "$(dirname "$0")/../.."
CARRY=${CARRY:-.carry/h8}
export CARRY
MODE=${1:-}
LAYOUTS=/tmp/h8-layout

# The workload (benchmarks/gpu/workload.sh) is BLOOM-7b1's; 176B keeps its
# dtype and seed, in shards of 10 GB.
source benchmarks/gpu/workload.sh

layouts() {
  local tool=$1
  workload_layout "$tool" "$LAYOUTS/bloom-7b1"
  if [[ ${NO_176B:-0} != 1 ]]; then
    "$tool" --config=models/bloom/presets/bloom-176b.json -o "$LAYOUTS/bloom-176b" \
      --dtype="$WORKLOAD_DTYPE" --seed="$WORKLOAD_SEED" --max-shard-bytes=10000000000 \
      --layout-only >/dev/null
  fi
}

prepare() {
  local compile=${COMPILE:-build/h7/bin/bloom-compile}
  bash scripts/gpu/cuda_backend.sh prepare
  layouts "${BUILD:-build/h7-carry}/bin/make-synthetic-checkpoint"
  for tp in 1 2 4 8; do
    workload_compile_decode "$compile" "$LAYOUTS/bloom-7b1" "$CARRY/plans/7b1-tp$tp" --tp=$tp
  done
  if [[ ${NO_176B:-0} != 1 ]]; then
    workload_compile_decode "$compile" "$LAYOUTS/bloom-176b" "$CARRY/plans/176b-tp8" --tp=8
  fi
  echo "== $CARRY: $(du -sh "$CARRY" | cut -f1)"
}

device() {
  OUT=${OUT:-/tmp/h8-out}
  mkdir -p "$OUT"
  local bin=$CARRY/bin log=$OUT/log.txt
  source scripts/gpu/device_setup.sh
  unpack_carried_binaries
  # NVLink multicast stays off (the device tool's rule), whatever NCCL's
  # defaults and the communicator's own setting.
  export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
  export BLOOM_GPU_PLANS=$PWD/$CARRY/plans BLOOM_REPO=$PWD
  local gpus
  gpus=$(nvidia-smi -L | wc -l)
  { echo "== $(date -u +%FT%TZ): $gpus GPUs"; nvidia-smi topo -m || true; } 2>&1 | tee "$log"
  layouts "$bin/make-synthetic-checkpoint"
  local failed=0
  echo "== cuda_tp_test" | tee -a "$log"
  timeout "${TEST_TIMEOUT:-300}" "$bin/cuda_tp_test" >"$OUT/tests.txt" 2>&1 || failed=1
  grep -E "^\[  (FAILED|PASSED|SKIPPED) |^\[tp\]|Failure" "$OUT/tests.txt" | tee -a "$log" || true
  local runs=()
  for tp in 1 2 4 8; do (( tp <= gpus )) && runs+=("7b1-tp$tp:bloom-7b1:1,8,64")
  done
  (( gpus >= 8 )) && [[ -d $CARRY/plans/176b-tp8 ]] && runs+=("176b-tp8:bloom-176b:1,8,16,32,64,128")
  for entry in "${runs[@]}"; do
    IFS=: read -r plan model batches <<<"$entry"
    echo "== bloom-cuda-bench --rank-group $plan (batches $batches)" | tee -a "$log"
    timeout "${BENCH_TIMEOUT:-900}" "$bin/bloom-cuda-bench" --rank-group --plan="$CARRY/plans/$plan" \
      --checkpoint-dir="$LAYOUTS/$model" --batches="$batches" --prompt=32 --new-tokens=100 2>&1 \
      | sed "s/^{/{\"plan\": \"$plan\", /" | tee -a "$OUT/bench.jsonl" | tee -a "$log" || failed=1
  done
  # DeepSpeed's BLOOM benchmark reports total time / (batch x new tokens).
  python3 - "$OUT/bench.jsonl" <<'PY' 2>&1 | tee -a "$log" || true
import json, sys
for line in open(sys.argv[1]):
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    if r.get("kind") == "decode" and r.get("ms_per_step_mean"):
        total_ms = r["prefill_ms"] + r["ms_per_step_mean"] * r["new_tokens"]
        amortised = total_ms / (r["batch"] * r["new_tokens"])
        print(json.dumps({"kind": "amortised", "plan": r["plan"], "batch": r["batch"],
                          "ms_per_token": round(amortised, 4)}))
PY
  return $failed
}

case $MODE in
  prepare) prepare ;;
  device) device ;;
  *) echo "usage: scripts/gpu/multi_gpu.sh prepare|device" >&2; exit 2 ;;
esac
