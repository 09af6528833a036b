// The GPU's side of `bloom-run --probe` (runtime/exec/link_probe.h): device
// memory bandwidth (a device-to-device copy, bytes read + written, as
// benchmarks/gpu/ceilings.py counts it) and pinned host-to-device bandwidth,
// the two rates a tiered plan's decode step is bound by.
#pragma once

#include <cstddef>

#include "absl/status/statusor.h"

namespace bloom {

struct DeviceLinks {
  double device_copy_gb_per_s = 0;
  double h2d_pinned_gb_per_s = 0;
};

// Copies `bytes` each way on GPU 0; the median of 10 timed copies after one
// untimed.
absl::StatusOr<DeviceLinks> ProbeDeviceLinks(size_t bytes);

}  // namespace bloom
