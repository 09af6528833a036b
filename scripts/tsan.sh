#!/usr/bin/env bash
# Builds the engine's unit test under ThreadSanitizer (preset `tsan`: the
# runtime alone, no MLIR or CUDA, -fsanitize=thread -O1) and runs it; a
# reported race fails the run. Only engine_test and the libraries it links
# are built (about two and a half minutes from clean on 2 cores), so it fits
# CI beside scripts/test.sh. Usage: scripts/tsan.sh [gtest flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset tsan >/dev/null
cmake --build --preset tsan --target engine_test -j "$(nproc)"
TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}" build/tsan/test/bin/engine_test "$@"
