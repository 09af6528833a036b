#!/usr/bin/env bash
# The runtime's GoogleTest units under AddressSanitizer (LeakSanitizer on) and
# UndefinedBehaviorSanitizer (presets `asan` and `ubsan`: the runtime alone,
# no MLIR or CUDA, each in build/<preset>). For each preset
# it builds the target unit_tests (every binary under test/unit and what it
# links, nothing else) and runs them through CTest's test preset of the same
# name, which keeps to the label `unit` and sets ASAN_OPTIONS / UBSAN_OPTIONS
# so that the first report aborts the test (halt_on_error, abort_on_error,
# detect_leaks, print_stacktrace; UBSan is built -fno-sanitize-recover=all).
# The builds, not the tests, are what cost (the units run in under 20 s
# either way), so the presets compile with clang-19 at -O0 and line tables
# only (-gline-tables-only: enough for the reports' stack traces); that takes
# about half the time of GCC at -O1 -g. Debug keeps assert() on, so absl's
# bounds checks fire too.
# One script for both: the two runs differ only in the preset's name, and the
# sanitizers' options live in the presets, so `ctest --preset asan` by hand
# runs the tests exactly as CI does. Options in the caller's ASAN_OPTIONS,
# LSAN_OPTIONS or UBSAN_OPTIONS are appended (the later one wins).
# About 12 minutes for both from clean build directories on 2 cores, the
# tests 30 s of it (docs/serving.md, "Soak and sanitizers"). CI cannot
# afford two builds inside its 30 minutes, so by default this runs the
# preset asan-ubsan: both sanitizers in one build (clang supports the pair;
# UBSan findings stay fatal with -fno-sanitize-recover=undefined), half the
# cost. The single-sanitizer presets stay for a clearer report by hand.
# Usage: scripts/sanitize.sh [asan|ubsan|asan-ubsan ...]   (asan-ubsan when none is named)
set -euo pipefail
cd "$(dirname "$0")/.."
presets=("$@")
((${#presets[@]})) || presets=(asan-ubsan)
for preset in "${presets[@]}"; do
  case "$preset" in
    asan | ubsan | asan-ubsan) ;;
    *)
      echo "sanitize.sh: unknown sanitizer preset '$preset' (asan, ubsan or asan-ubsan)" >&2
      exit 2
      ;;
  esac
done

bash scripts/install-deps.sh
for preset in "${presets[@]}"; do
  echo "== $preset: unit tests"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$(nproc)"
  ctest --preset "$preset" -j "$(nproc)"
done
