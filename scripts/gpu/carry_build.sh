#!/usr/bin/env bash
# The GPU flows' one build-and-carry step: builds TARGETs runtime-only (no
# MLIR) into a Release build directory of their own, Abseil linked
# statically (benchmarks/gpu/cmake/absl) and cudart statically (the
# project's default), copies them into DEST, strips them and checks with
# ldd that none still links Abseil or cudart as a shared library: the GPU
# machine has no Abseil, and cuBLASLt (and NCCL) are the only CUDA
# libraries taken from it.
#
#   scripts/gpu/carry_build.sh DEST TARGET...
#
# Environment:
#   SRC    the source tree to build (default: this one). Another tree (a
#          `git worktree` of an older commit, a clean snapshot) builds that
#          tree's code with this tree's Abseil stand-in, so an old binary
#          and a new one can travel side by side (prepare_old_vs_new.sh).
#   BUILD  the build directory (default build/gpu-carry); one per SRC and
#          configuration, or CMake reconfigures and rebuilds everything.
#   CUDA   ON (default) or OFF (the CPU-only dry runs).
#   TESTS  ON (default: the GPU tests, and bloom-cuda-bench before it moved
#          to tools/, are test targets) or OFF.
#   JOBS   parallel build jobs (default 2).
#   CMAKE_ARGS  extra CMake flags (words; a later -D wins over the above).
# Used by scripts/gpu/cuda_backend.sh prepare (and so multi_gpu.sh),
# benchmarks/gpu/prepare.sh and scripts/gpu/prepare_old_vs_new.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [[ $# -lt 2 ]]; then
  echo "usage: scripts/gpu/carry_build.sh DEST TARGET..." >&2
  exit 2
fi
dest=$1
shift
src=${SRC:-$ROOT}
build=${BUILD:-build/gpu-carry}
echo "== $* from $src in $build (CUDA ${CUDA:-ON}, static Abseil and cudart)"
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBLOOM_ENABLE_COMPILER=OFF \
  -DBLOOM_ENABLE_CUDA="${CUDA:-ON}" -DBLOOM_ENABLE_TESTS="${TESTS:-ON}" \
  -Dabsl_DIR="$ROOT/benchmarks/gpu/cmake/absl" ${CMAKE_ARGS:-} >/dev/null
ninja -C "$build" -j"${JOBS:-2}" "$@"
mkdir -p "$dest"
for target in "$@"; do
  # Test binaries land in test/bin, tools in bin.
  if [[ -f $build/test/bin/$target ]]; then
    cp "$build/test/bin/$target" "$dest/"
  elif [[ -f $build/bin/$target ]]; then
    cp "$build/bin/$target" "$dest/"
  else
    echo "carry_build.sh: $target was built but is in neither $build/bin nor $build/test/bin" >&2
    exit 1
  fi
  strip "$dest/$target" 2>/dev/null || true
  if ldd "$dest/$target" 2>/dev/null | grep -E "absl|libcudart" >&2; then
    echo "carry_build.sh: $dest/$target still links Abseil or cudart as a shared library" >&2
    exit 1
  fi
done
