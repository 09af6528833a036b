// `bloom-run --probe [--backend=cpu|cuda] [--disk-dir=PATH]`: measures this
// machine's links for memory tiering (runtime/exec/link_probe.h,
// runtime/cuda/device_probe.h) and prints one JSON object whose
// "bloom_compile_flags" are the cost-model flags to compile a tiered plan
// for this machine with (docs/memory-tiering.md). No plan is needed.
#pragma once

#include "tools/common/command_line.h"

namespace bloom::run {

// Returns the exit code (0, 1 for a failed measurement, 2 for bad flags).
int RunProbe(const tools::CommandLine& cl);

}  // namespace bloom::run
