#!/usr/bin/env bash
# Every test: install, build, then run CTest (GoogleTest units, lit/FileCheck
# tests of the dialects and passes, end-to-end parity against transformers'
# goldens, bad-input tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
ctest --preset default -j "$(nproc)"
