// The device view of one layer of the paged KV cache, the same layout as
// the CPU reference's (kernels/cpu/paged_kv.h): K and V pools of
// [num_blocks, num_heads, block_size, head_dim] in the cache's storage dtype,
// and block tables [max_sequences, max_blocks_per_sequence] in device
// memory. Plain data, shared by the attention launchers and the executor.
#pragma once

#include <cstdint>

#include "runtime/support/dtype.h"

namespace bloom::cuda {

// The attention kernels take head_dim up to this.
constexpr int kAttentionMaxHeadDim = 256;

struct PagedKvView {
  void* keys = nullptr;
  void* values = nullptr;
  DType dtype = DType::kF32;
  int32_t num_heads = 0;
  int32_t head_dim = 0;
  int32_t block_size = 0;
  const int32_t* block_tables = nullptr;  // device memory
  int32_t max_blocks_per_sequence = 0;
};

// A run of consecutive tokens of one sequence at consecutive positions:
// tokens [first_token, first_token + num_queries) of the packed batch sit
// at positions [first_position, first_position + num_queries) of `slot`.
// The host cuts a step's batch into such tiles (runtime/cuda).
struct AttentionTile {
  int32_t first_token;
  int32_t num_queries;
  int32_t slot;
  int32_t first_position;
};

#ifdef __CUDACC__
// Element offset of (position, head) of `slot` in keys/values.
__device__ __forceinline__ int64_t PagedOffset(const PagedKvView& kv, int32_t slot,
                                               int32_t position, int32_t head) {
  const int32_t block = kv.block_tables[static_cast<int64_t>(slot) * kv.max_blocks_per_sequence +
                                        position / kv.block_size];
  return ((static_cast<int64_t>(block) * kv.num_heads + head) * kv.block_size +
          position % kv.block_size) *
         kv.head_dim;
}
#endif

}  // namespace bloom::cuda
