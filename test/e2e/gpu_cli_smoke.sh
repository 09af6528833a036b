#!/usr/bin/env bash
# bloom-run's CUDA path end to end, on the GPU machine (the device tool), for
# the embedded model: text in/out against the tiny-random-text golden, the
# --tokens contract with --dump-logits against transformers' logits, a JSONL
# batch on CUDA against the same batch on the CPU backend (greedy tokens
# must match; CUDA takes the fused on-device argmax path), and --bench.
#
# Prepared here (no MLIR or Abseil there): a runtime-only build with
# Abseil linked statically, and plans compiled from models/bloom/tiny-random:
#   cmake -S . -B build/h8-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
#     -DBLOOM_ENABLE_COMPILER=OFF -DBLOOM_ENABLE_TESTS=OFF -DBLOOM_ENABLE_CUDA=ON \
#     -Dabsl_DIR=$PWD/benchmarks/gpu/cmake/absl
#   ninja -C build/h8-gpu bloom-run npy-diff
#   mkdir -p .carry/h8/bin && cp build/h8-gpu/bin/{bloom-run,npy-diff} .carry/h8/bin/
#   bloom-compile --model=models/bloom/tiny-random -o .carry/h8/plans/tiny-fp32
#   bloom-compile --model=models/bloom/tiny-random --dtype=bf16 -o .carry/h8/plans/tiny-bf16
# Then: run(command="bash test/e2e/gpu_cli_smoke.sh", carry=[".carry/h8"]).
# Results under $OUT (summary.txt and the JSON files).
set -uo pipefail
C=${CARRY_DIR:-.carry/h8}
OUT=${OUT:-/tmp/h8-out}
mkdir -p "$OUT"
RUN=$C/bin/bloom-run
CKPT=models/bloom/tiny-random
G=test/golden/cases/tiny-random-text
PROMPT=$(python3 -c "import json; print(json.load(open('$G/golden.json'))['prompt_text'])")
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }

nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee -a "$SUMMARY"
for plan in tiny-fp32 tiny-bf16; do
  P=$C/plans/$plan
  say "== $plan"
  for backend in cpu cuda; do
    ids=$("$RUN" "$P" --checkpoint-dir=$CKPT --backend=$backend --prompt="$PROMPT" \
          --max-new-tokens=8 --print-tokens 2>>"$OUT/stderr.txt")
    say "$backend text-mode ids: $ids (exit $?)"
  done
  say "golden ids:           $(python3 -c "import json; print(' '.join(map(str, json.load(open('$G/golden.json'))['generated_tokens'])))")"
  text=$("$RUN" "$P" --checkpoint-dir=$CKPT --backend=cuda --prompt="$PROMPT" --max-new-tokens=8 2>>"$OUT/stderr.txt")
  python3 -c "
import json, sys
g = json.load(open('$G/golden.json'))['generated_text']
print('cuda streamed text equals golden text:', sys.argv[1] == g)" "$text" | tee -a "$SUMMARY"
  toks=$(python3 -c "import json; print(','.join(map(str, json.load(open('$G/golden.json'))['prompt_tokens'])))")
  "$RUN" "$P" --checkpoint-dir=$CKPT --backend=cuda --tokens="$toks" --max-new-tokens=8 \
      --dump-logits="$OUT/$plan-logits.npy" >>"$SUMMARY" 2>>"$OUT/stderr.txt"
  "$C/bin/npy-diff" "$OUT/$plan-logits.npy" "$G/logits.npy" --atol=1e-3 2>&1 | tee -a "$SUMMARY"
  rm -f "$OUT/$plan-logits.npy"

  python3 - "$OUT/batch.jsonl" <<'EOF'
import json, random, sys
r = random.Random(5)
prompts = ["The quick brown fox", "Hi", "Bonjour, le monde! 日本語のテキスト.", "x = f(y) | g(z);"]
with open(sys.argv[1], "w") as f:
    for i, p in enumerate(prompts):
        f.write(json.dumps({"prompt": p, "max_new_tokens": 12, "ignore_eos": True, "id": i}) + "\n")
    for i in range(8):
        f.write(json.dumps({"tokens": [r.randrange(3, 1024) for _ in range(r.randrange(1, 40))],
                            "max_new_tokens": 16, "id": f"t{i}"}) + "\n")
EOF
  for backend in cpu cuda; do
    "$RUN" "$P" --checkpoint-dir=$CKPT --backend=$backend --input="$OUT/batch.jsonl" \
        --output="$OUT/$plan-$backend.jsonl" 2>>"$OUT/stderr.txt"
    say "$backend JSONL batch exit $?"
  done
  python3 - "$OUT/$plan-cpu.jsonl" "$OUT/$plan-cuda.jsonl" <<'EOF' | tee -a "$SUMMARY"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
same = sum(x["tokens"] == y["tokens"] for x, y in zip(a, b))
print(f"JSONL batch: {same}/{len(a)} requests with identical greedy tokens on cpu and cuda")
for x, y in zip(a, b):
    if x["tokens"] != y["tokens"]:
        print("  differs:", x["id"], x["tokens"], y["tokens"])
EOF
  for batch in 1 4 8; do
    "$RUN" "$P" --checkpoint-dir=$CKPT --backend=cuda --bench --batch=$batch --prompt-len=32 \
        --max-new-tokens=32 --warmup=2 >>"$OUT/bench.jsonl" 2>>"$OUT/bench-table.txt"
    say "bench batch $batch exit $?: $(tail -1 "$OUT/bench.jsonl")"
  done
done
rm -f "$OUT/batch.jsonl"
