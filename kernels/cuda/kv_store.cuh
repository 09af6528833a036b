// The first half of ALiBi attention: every token's K and V written at
// (slot, position) of the layer's paged cache, before any token attends, so
// a token sees the earlier tokens of its own chunk.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/paged_kv.cuh"

namespace bloom::cuda {

// qkv is [num_tokens, num_heads * 3 * head_dim] in HF BLOOM's fused layout
// (per head: q, k, v), in kv.dtype. Tokens whose slot is negative (padding
// of a CUDA-graph batch bucket) are skipped. All pointers are device memory.
cudaError_t LaunchKvStore(const void* qkv, const int32_t* positions, const int32_t* slots,
                          int64_t num_tokens, const PagedKvView& kv, cudaStream_t stream);

}  // namespace bloom::cuda
