// ALiBi attention for single-token queries (decode steps) over the paged
// cache, split along the sequence (split-K, "flash decoding"): each of up to
// max_splits blocks per (token, head) reduces a contiguous range of key
// positions to a partial (max, sum, unnormalised output), and a second pass
// combines the partials: the last split block of a (token, head) to finish,
// found by a counter in the scratch, merges them, so decode is one launch.
// The number of splits a token uses is derived on the device from its
// position, so the launch shape depends only on the number of tokens and a
// CUDA graph can replay it as the context grows.
//
// The token's own key and value (position positions[t]) are read from its
// qkv row, not from the cache; with store_kv the kernel also writes them to
// the cache, so a step of decode tokens alone needs no LaunchKvStore.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/paged_kv.cuh"

namespace bloom::cuda {

// Key positions a split covers at least; shorter contexts use fewer splits.
// 128 keeps all four warps of a split's block busy (32 keys each).
constexpr int kDecodeMinKeysPerSplit = 128;

// Floats of scratch LaunchAttentionDecode needs: per (token, head) a
// counter and max_splits partial results.
int64_t AttentionDecodeScratchFloats(int64_t max_tokens, int32_t num_heads, int32_t head_dim,
                                     int32_t max_splits);

// Zeroes the scratch's counters; needed once after allocation, since every
// launch leaves them zero again.
cudaError_t ClearAttentionDecodeScratch(float* scratch, int64_t max_tokens, int32_t num_heads,
                                        int32_t head_dim, int32_t max_splits, cudaStream_t stream);

// For each i in [0, num_tokens): token t = token_list[i] (device array)
// attends with its query (row t of qkv) to key positions 0..positions[t] of
// slots[t], and context row t is written, as LaunchAttentionPrefill
// describes. Tokens with a negative slot (graph padding) get zero rows and
// touch neither cache nor counters. `scratch` holds
// AttentionDecodeScratchFloats(num_tokens, ...) floats, cleared once.
//
// Two kernels share the contract and the scratch. kAuto takes the
// warp-per-split kernel (attention_decode_warp.cuh) where it applies
// (16-byte row pieces, max_splits <= 32): a warp per (token, head, split),
// K and V rows read whole and several at once, as many splits as fill the
// GPU. The block-per-split kernel (a block of four warps per (token, head,
// split), a lane per key) takes the rest; kBlockPerSplit asks for it, for
// the benchmark's side-by-side and the parity test.
enum class DecodeAttentionKernel { kAuto, kBlockPerSplit };

cudaError_t LaunchAttentionDecode(const void* qkv, const int32_t* token_list, int32_t num_tokens,
                                  const int32_t* positions, const int32_t* slots,
                                  const float* slopes, const PagedKvView& kv, int32_t max_splits,
                                  bool store_kv, float* scratch, void* context, DType context_dtype,
                                  cudaStream_t stream,
                                  DecodeAttentionKernel kernel = DecodeAttentionKernel::kAuto);

// The max_splits a plan of max_seq_len positions gives its decode launches
// (the scratch's partials per (token, head)): one per 32 keys for kAuto
// (the warp kernel's kWarpDecodeMinKeysPerSplit), one per
// kDecodeMinKeysPerSplit for the block kernel, in [1, kMaxDecodeSplits].
// Where kAuto falls back to the block kernel, its extra split blocks exit
// at once.
constexpr int32_t kMaxDecodeSplits = 32;
int32_t AttentionDecodeMaxSplits(int32_t max_seq_len, DecodeAttentionKernel kernel);

// Whether kAuto takes the warp-per-split kernel for this launch.
bool DecodeUsesWarpKernel(const PagedKvView& kv, int32_t max_splits, const void* qkv,
                          const void* context);

}  // namespace bloom::cuda
