// A per-instruction time breakdown of one step without a profiler
// (CudaExecutorOptions::profile, bloom-cuda-bench --profile=1,
// docs/cuda-backend.md): the executor runs the step
// eagerly with a CUDA event before each instruction and after the last, and
// this report turns the event times into a table per kernel category (a
// Linear is named by its result without the layer prefix: "Linear qkv",
// "Linear mlp_gelu", ...) with the bytes each instruction must move and the
// floor those bytes (and, for GEMMs, FLOPs) set on this machine. Plain C++:
// the numbers arrive as milliseconds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/plan/plan_generated.h"

namespace bloom {

// The machine's ceilings the floors use (docs/cuda-backend.md): by default
// an H100's measured ones. bytes_per_s is device memory bandwidth counted
// as the floors count it, bytes read + written (what `bloom-cuda-bench
// --probe` reports as device_copy_gb_per_s); flops_per_s the dense 16-bit
// tensor-core rate. bloom-cuda-bench sets them with --profile-gb-per-s and
// --profile-tflops.
struct ProfileCeilings {
  double bytes_per_s = 3.0e12;
  double flops_per_s = 756e12;
};

// What the report needs of the step: its padded row counts and the
// positions of its real tokens (the attention's KV reads).
struct ProfiledStep {
  int64_t tokens = 0;              // T as run
  int64_t logit_rows = 0;          // R as run
  std::vector<int32_t> positions;  // of the real tokens
  std::vector<int32_t> slots;      // their sequences' KV-cache slots (empty: each token its own)
};

// `ms[i]` is instruction i's time; `total_ms` from the first event to the
// last (launch gaps included). With `every_instruction`, one line per
// instruction follows the table; otherwise only those outside layers 1..
// (embedding, layer 0, the head) are listed.
std::string FormatStepProfile(const plan::Plan& plan, const ProfiledStep& step,
                              const std::vector<double>& ms, double total_ms,
                              bool every_instruction,
                              const ProfileCeilings& ceilings = ProfileCeilings());

}  // namespace bloom
