#!/usr/bin/env bash
# Prepares, here, issue 11's old-binary-against-new decode comparison
# (benchmarks/gpu/old_vs_new.sh runs it on the GPU machine):
#
#   OLD_REV=a6d20c2 bash scripts/gpu/prepare_old_vs_new.sh
#   run(command="bash benchmarks/gpu/old_vs_new.sh", carry=[".carry/old-vs-new"])
#
# 1. a `git worktree` of OLD_REV under /tmp (kept for the next call);
# 2. its bloom-cuda-bench and bloom-run, built by scripts/gpu/carry_build.sh
#    (static Abseil and cudart) into CARRY/bin-old, and this tree's (or
#    NEW_SRC's) bloom-cuda-bench, bloom-run and make-synthetic-checkpoint
#    into CARRY/bin, each directory then packed into CARRY/<dir>.tar.xz;
# 3. the 7b1 decode plan of benchmarks/gpu/workload.sh, compiled once with
#    COMPILE (the new bloom-compile) against a layout-only replica into
#    CARRY/plans/7b1-decode. Both binaries read that plan only while the
#    plan format (runtime/plan/plan_version.h, plan.fbs) is the same in both
#    trees; if it differs, OLD_REV's own bloom-compile is built (a compiler
#    build in the worktree: MLIR, minutes) and compiles CARRY/plans-old.
#
# --dry-run: the CPU backend and the tiny embedded model, bloom-run only
# (then: OUT=/tmp/ovn-dry CARRY=.carry/old-vs-new-dry BACKEND=cpu TOOLS=run
# CONFIG=.carry/old-vs-new-dry/bloom-7b1.json bash benchmarks/gpu/old_vs_new.sh),
# for checking the scripts here.
#
# Environment: OLD_REV (required), NEW_SRC (the new tree, default this
# one), CARRY (.carry/old-vs-new), WORKTREE (/tmp/bloom-old-<rev>),
# OLD_BUILD (build/carry-old-<rev>), NEW_BUILD (build/h7-carry, which
# cuda_backend.sh prepare shares), COMPILE (build/default/bin/bloom-compile),
# JOBS (2).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DRY_RUN=0
[[ ${1:-} == --dry-run ]] && DRY_RUN=1
source benchmarks/gpu/workload.sh
: "${OLD_REV:?OLD_REV=<commit> is required (the revision of the old binary)}"
old_rev=$(git rev-parse --short=12 "$OLD_REV^{commit}")
new_src=${NEW_SRC:-$ROOT}
worktree=${WORKTREE:-/tmp/bloom-old-$old_rev}
compile=${COMPILE:-build/default/bin/bloom-compile}
tools=(bloom-cuda-bench bloom-run)
config=$WORKLOAD_CONFIG
if [[ $DRY_RUN -eq 1 ]]; then
  CARRY=${CARRY:-.carry/old-vs-new-dry}
  export CUDA=OFF TESTS=OFF
  tools=(bloom-run)
  config=models/bloom/tiny-random/config.json
  old_build=${OLD_BUILD:-build/carry-old-$old_rev-cpu}
  new_build=${NEW_BUILD:-build/bench-runtime}
else
  CARRY=${CARRY:-.carry/old-vs-new}
  old_build=${OLD_BUILD:-build/carry-old-$old_rev}
  new_build=${NEW_BUILD:-build/h7-carry}
fi
[[ -x $compile ]] || { echo "prepare_old_vs_new.sh: $compile: no bloom-compile (COMPILE=...)" >&2; exit 2; }

echo "== worktree of $old_rev in $worktree"
if [[ -d $worktree ]]; then
  if [[ $(git -C "$worktree" rev-parse --short=12 HEAD) != "$old_rev" ]]; then
    echo "prepare_old_vs_new.sh: $worktree holds another commit; remove it" \
      "(git worktree remove $worktree) or set WORKTREE" >&2
    exit 1
  fi
else
  git worktree add --detach "$worktree" "$old_rev" >/dev/null
fi

rm -rf "$CARRY"
mkdir -p "$CARRY/plans"
SRC=$worktree BUILD=$old_build bash scripts/gpu/carry_build.sh "$CARRY/bin-old" "${tools[@]}"
SRC=$new_src BUILD=$new_build bash scripts/gpu/carry_build.sh "$CARRY/bin" "${tools[@]}" \
  make-synthetic-checkpoint

echo "== the 7b1 decode plan (benchmarks/gpu/workload.sh) with $compile"
layout=/tmp/old-vs-new-layout/$(basename "$config" .json)
[[ $DRY_RUN -eq 1 ]] && layout=/tmp/old-vs-new-layout/tiny-random
workload_layout "$CARRY/bin/make-synthetic-checkpoint" "$layout" "$config"
workload_compile_decode "$compile" "$layout" "$CARRY/plans/7b1-decode"
plan_format=(runtime/plan/plan_version.h runtime/plan/plan.fbs)
if git -C "$new_src" diff --quiet "$old_rev" -- "${plan_format[@]}"; then
  echo "== plan format unchanged since $old_rev: both binaries read plans/7b1-decode"
else
  echo "== plan format changed since $old_rev: OLD_REV's bloom-compile compiles plans-old"
  old_compiler_build=$old_build-compiler
  cmake -S "$worktree" -B "$old_compiler_build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DBLOOM_ENABLE_CUDA=OFF -DBLOOM_ENABLE_TESTS=OFF >/dev/null
  ninja -C "$old_compiler_build" -j"${JOBS:-2}" bloom-compile
  workload_compile_decode "$old_compiler_build/bin/bloom-compile" "$layout" \
    "$CARRY/plans-old/7b1-decode"
fi
cp "$config" "$CARRY/bloom-7b1.json"
new_rev=$(git -C "$new_src" rev-parse --short=12 HEAD)
git -C "$new_src" diff --quiet HEAD -- . 2>/dev/null || new_rev="$new_rev+uncommitted"
cat >"$CARRY/old_vs_new.env" <<EOF
OLD_REV=$old_rev
NEW_REV=$new_rev
NEW_SRC=$new_src
EOF
for dir in bin-old bin; do
  tar -C "$CARRY" -cJf "$CARRY/$dir.tar.xz" "$dir" && rm -rf "${CARRY:?}/$dir"
done
size=$(du -sm "$CARRY" | cut -f1)
echo "== $CARRY: ${size} MiB"
find "$CARRY" -type f | sort
if (( size >= 64 )); then
  echo "prepare_old_vs_new.sh: $CARRY is ${size} MiB; the device tool carries 64 MiB at most" >&2
  exit 1
fi
if [[ $DRY_RUN -eq 1 ]]; then
  echo "next: OUT=/tmp/ovn-dry CARRY=$CARRY BACKEND=cpu TOOLS=run CONFIG=$CARRY/bloom-7b1.json" \
    "bash benchmarks/gpu/old_vs_new.sh"
else
  echo "next: run(command=\"bash benchmarks/gpu/old_vs_new.sh\", carry=[\"$CARRY\"])"
fi
