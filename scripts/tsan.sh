#!/usr/bin/env bash
# ThreadSanitizer over the serving threads (preset `tsan`: the runtime alone,
# no MLIR or CUDA, -fsanitize=thread -O1): builds engine_test and bloom-serve
# there and runs, failing on any report (halt_on_error: the process exits 66
# at the first one),
#   1. the engine's unit test (Submit/Cancel from many threads, StepOnce),
#      and the pipeline group's (a thread per stage and per rank, steps in
#      flight, a stage failing mid-step);
#   2. test/e2e/serve_test.py against the TSan bloom-serve (every route,
#      disconnects, 429, SIGTERM, concurrent clients, static batching);
#   3. test/e2e/serve_soak.py against it with 400 requests (cancels,
#      disconnects, overload, malformed bodies; /metrics adding up).
# The tests compile their plan with the default build's bloom-compile and
# take references from its bloom-run (neither needs TSan; the preset has no
# compiler), so scripts/build.sh must have run first, as scripts/test.sh
# does. About 3.5 minutes from a clean build/tsan on 2 cores, 30 s of it the
# three tests (docs/serving.md).
# Usage: scripts/tsan.sh [gtest flags for engine_test...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset tsan >/dev/null
cmake --build --preset tsan --target engine_test engine_in_flight_test pipeline_group_test distributed_pipeline_test bloom-serve -j "$(nproc)"

default_bin="$PWD/build/default/bin"
for tool in bloom-compile bloom-run; do
  if [[ ! -x "$default_bin/$tool" ]]; then
    echo "tsan.sh: $default_bin/$tool is missing: run scripts/build.sh first" >&2
    exit 1
  fi
done

# The prebuilt cpp-httplib is not instrumented: see the suppressions file.
# OpenMP's barriers (libgomp, not instrumented either) are invisible to TSan,
# so the CPU kernels run on one thread; the threads under test are the
# server's (HTTP pool, engine, signals), not the kernels'.
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 suppressions=$PWD/scripts/tsan-suppressions.txt ${TSAN_OPTIONS:-}"
export OMP_NUM_THREADS=1

build/tsan/test/bin/engine_test "$@"
build/tsan/test/bin/engine_in_flight_test
build/tsan/test/bin/pipeline_group_test
build/tsan/test/bin/distributed_pipeline_test

# serve_test.py finds its tools in one directory: the TSan bloom-serve beside
# the default build's bloom-compile and bloom-run.
tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT
ln -s "$default_bin/bloom-compile" "$default_bin/bloom-run" "$tools/"
ln -s "$PWD/build/tsan/bin/bloom-serve" "$tools/bloom-serve"
python3 test/e2e/serve_test.py --bin="$tools" --repo="$PWD"
python3 test/e2e/serve_soak.py --bin="$default_bin" --serve="$PWD/build/tsan/bin/bloom-serve" \
  --repo="$PWD" --requests=400
python3 test/e2e/serve_replicas.py --bin="$default_bin" --serve="$PWD/build/tsan/bin/bloom-serve" --repo="$PWD"
