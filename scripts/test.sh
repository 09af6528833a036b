#!/usr/bin/env bash
# Every test: install, build, a short fuzzing pass over each parser
# (scripts/fuzz.sh), the engine's test and the server under ThreadSanitizer
# (scripts/tsan.sh), the runtime's unit tests under AddressSanitizer and
# UndefinedBehaviorSanitizer (scripts/sanitize.sh), then CTest (GoogleTest
# units, lit/FileCheck tests of the dialects and passes, end-to-end parity
# against transformers' goldens, bad-input tests). CTest runs last so its
# summary closes the output.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
bash scripts/fuzz.sh "${BLOOM_FUZZ_SECONDS:-10}"
bash scripts/tsan.sh
bash scripts/sanitize.sh
ctest --preset default -j "$(nproc)"
