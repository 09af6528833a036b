// ALiBi causal attention for prompt chunks, flash-attention style: a block
// takes a tile of consecutive query tokens of one sequence and one head,
// streams that sequence's keys and values from the paged cache in chunks
// with an online softmax, and never materialises the T×T score matrix, so
// long prompts need no memory beyond the cache. Run after LaunchKvStore.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/paged_kv.cuh"

namespace bloom::cuda {

// Queries per tile; the host cuts runs longer than this into several tiles.
constexpr int kAttentionTileQueries = 64;

// For each tile (device array of num_tiles) and head h:
//   context[t, h*D:(h+1)*D] = softmax_j(q_t·k_j/sqrt(D) + slopes[h]*j) · V
// over key positions j = 0..position(t) of the tile's slot, D = kv.head_dim
// (at most 256). qkv is [T, 3*H*D] in kv.dtype (HF's [heads, 3, D] layout);
// slopes (device, one per head) and context ([T, H*D], context_dtype) too.
cudaError_t LaunchAttentionPrefill(const void* qkv, const AttentionTile* tiles, int32_t num_tiles,
                                   const float* slopes, const PagedKvView& kv, void* context,
                                   DType context_dtype, cudaStream_t stream);

}  // namespace bloom::cuda
