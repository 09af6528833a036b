#!/usr/bin/env bash
# Installs the dependencies (scripts/install-deps.sh) and builds the default
# preset (compiler + CPU runtime, Release) into build/default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default -j "$(nproc)"
