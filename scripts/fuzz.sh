#!/usr/bin/env bash
# Builds the libFuzzer targets (preset `fuzz`, clang-19 with ASan/UBSan),
# replays their seed corpora (CTest), then fuzzes each for SECONDS (default
# 30) from a scratch copy of its corpus. Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-30}
bash scripts/install-deps.sh
cmake --preset fuzz >/dev/null
FUZZERS=(safetensors_header_fuzzer:safetensors bloom_config_fuzzer:bloom_config plan_fuzzer:plan
         tokenizer_fuzzer:tokenizer jsonl_requests_fuzzer:jsonl checkpoint_index_fuzzer:checkpoint_index
         openai_completions_fuzzer:openai_completions tgi_generate_fuzzer:tgi_generate
         kl_base_file_fuzzer:kl_base_file)
targets=()
for entry in "${FUZZERS[@]}"; do targets+=("${entry%%:*}"); done
cmake --build --preset fuzz --target "${targets[@]}" -j "$(nproc)"
(cd build/fuzz && ctest -R _corpus --output-on-failure)
for entry in "${FUZZERS[@]}"; do
  name=${entry%%:*} corpus=test/fuzz/corpus/${entry##*:}
  work=$(mktemp -d)
  cp -r "$corpus/." "$work/"
  echo "== $name for ${SECONDS_EACH}s"
  dict=()
  [[ -f test/fuzz/${entry##*:}.dict ]] && dict=(-dict="test/fuzz/${entry##*:}.dict")
  log=$(mktemp)
  if ! build/fuzz/fuzz/"$name" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
      "${dict[@]}" "$work" >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz.sh: $name found a failure (reproducer written to the working directory)" >&2
    exit 1
  fi
  grep -E "stat::number_of_executed_units" "$log" || true
  rm -rf "$work" "$log"
done
