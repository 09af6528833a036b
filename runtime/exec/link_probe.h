// Measures the links a tiered plan's step is bound by (memory tiering,
// docs/memory-tiering.md), on the machine that will run it, so that
// bloom-compile's cost model gets this machine's figures instead of its
// defaults: `bloom-run --probe` prints them as bloom-compile flags.
//
// This file: the host side (memory copy, and reads from a disk directory
// the way the disk tier reads: O_DIRECT where the filesystem allows, large
// aligned preads). runtime/cuda/device_probe.h adds the GPU's links.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace bloom {

struct HostLinks {
  double memory_copy_gb_per_s = 0;  // memcpy, bytes read + written
  double disk_read_gb_per_s = 0;    // 0 when no directory was probed
  bool disk_direct = false;         // the disk reads bypassed the page cache
};

// Copies `bytes` in memory, and when `disk_dir` is not empty writes a file
// of `bytes` there (removed afterwards), drops it from the page cache and
// reads it back. A directory that cannot hold the file is an error naming
// it.
absl::StatusOr<HostLinks> ProbeHostLinks(const std::string& disk_dir, size_t bytes);

}  // namespace bloom
