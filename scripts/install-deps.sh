#!/usr/bin/env bash
# Installs every Debian package that building and testing this project needs.
# Idempotent: packages already present are left alone, so a second run is a
# quick no-op. Run as root (or with sudo available).
set -euo pipefail

PACKAGES=(
  # Build tools.
  cmake ninja-build g++ pkg-config python3
  # Compiler side: MLIR/LLVM 19. FileCheck and lit come with llvm-19-tools.
  llvm-19-dev llvm-19-tools libmlir-19-dev mlir-19-tools
  # Runtime side.
  libabsl-dev flatbuffers-compiler libflatbuffers-dev nlohmann-json3-dev
  # bloom-serve's HTTP server (header-only cpp-httplib, used without TLS).
  libcpp-httplib-dev
  # Multi-process tensor parallelism: mpirun and the MPI communicator.
  openmpi-bin libopenmpi-dev
  # Tests and fuzzing (libFuzzer needs clang and its runtime).
  libgtest-dev libgmock-dev clang-19 libclang-rt-19-dev
  # LLVM's CMake config looks for these libraries when it is imported.
  zlib1g-dev libzstd-dev libcurl4-openssl-dev libedit-dev libxml2-dev libffi-dev
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
