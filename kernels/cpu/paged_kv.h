// A view of one transformer layer's slice of the paged KV cache, the form in
// which attention kernels see it. The cache itself (allocation, free list,
// block tables) is runtime/exec/kv_cache.h; this header only describes the
// memory so that kernels need not depend on the runtime.
//
// Position p of the sequence in slot s lives in physical block
//   b = block_tables[s * max_blocks_per_sequence + p / block_size]
// at row p % block_size, and head h's key there starts at
//   keys + ((b * num_heads + h) * block_size + p % block_size) * head_dim.
// Keeping a block's positions of one head contiguous makes the score loop
// of a head walk memory linearly.
#pragma once

#include <cstdint>

namespace bloom::cpu {

struct PagedKvLayer {
  float* keys;    // [num_blocks, num_heads, block_size, head_dim]
  float* values;  // same layout as keys
  int32_t num_heads;
  int32_t head_dim;
  int32_t block_size;
  // [max_sequences, max_blocks_per_sequence]: physical block id of each
  // logical block of a sequence, -1 where none is assigned.
  const int32_t* block_tables;
  int32_t max_blocks_per_sequence;
};

// Offset in floats of (position, head) of sequence `slot` in keys/values.
// Precondition: the position's logical block is assigned.
inline int64_t PagedKvOffset(const PagedKvLayer& kv, int32_t slot,
                             int32_t position, int32_t head) {
  const int32_t block =
      kv.block_tables[static_cast<int64_t>(slot) * kv.max_blocks_per_sequence +
                      position / kv.block_size];
  return ((static_cast<int64_t>(block) * kv.num_heads + head) * kv.block_size +
          position % kv.block_size) *
         kv.head_dim;
}

}  // namespace bloom::cpu
