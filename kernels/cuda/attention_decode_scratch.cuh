// The decode attention kernels' split-K scratch (attention_decode.cuh),
// one layout for both kernels: per (list index, head) a 4-float header
// whose first word counts the splits done (an int), then max_splits
// partials, each the split's running max, its sum of exponentials and
// head_dim unnormalised output values.
// Device code only: include from .cu files.
#pragma once

#include <cstdint>

namespace bloom::cuda::decode_scratch {

__host__ __device__ __forceinline__ int64_t GroupFloats(int head_dim, int max_splits) {
  return 4 + static_cast<int64_t>(max_splits) * (head_dim + 2);
}

__device__ __forceinline__ float* GroupAt(float* scratch, int index, int head, int num_heads,
                                          int head_dim, int max_splits) {
  return scratch +
         (static_cast<int64_t>(index) * num_heads + head) * GroupFloats(head_dim, max_splits);
}

__device__ __forceinline__ float* PartialAt(float* group, int split, int head_dim) {
  return group + 4 + static_cast<int64_t>(split) * (head_dim + 2);
}

}  // namespace bloom::cuda::decode_scratch
