// The warp-per-split decode attention kernel (attention_decode_warp.cu),
// behind LaunchAttentionDecode (attention_decode.cuh): each warp reduces
// one (token, head, split), its lanes in groups that each read a whole key
// row and its value row at once, 16 bytes a lane, several rows in flight.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/paged_kv.cuh"
#include "runtime/support/dtype.h"

namespace bloom::cuda {

// Whether the warp kernel takes this cache: a head's row is a power of two
// of 16-byte pieces, from 2 to 32 (16-bit head_dim 16, 32, 64, 128 or 256;
// f32 head_dim 8 to 128), and qkv, the pools and context are 16-byte
// aligned. The block kernel takes the rest.
bool WarpDecodeSupports(const PagedKvView& kv, const void* qkv, const void* context);

// Splits the warp kernel gives each (token, head) at most, for a launch of
// num_tokens tokens: as many as keep every warp of the launch resident at
// once (resident_warps: the SMs times the warps the kernel's registers let
// an SM hold), in [1, max_splits]. Past one wave, more splits only add
// waves, each paying the kernel's chain of dependent loads again (measured:
// 2 splits at batch 128 took 2.3x the time of 1). A token uses fewer when
// its context is short (kWarpDecodeMinKeysPerSplit keys a split at least).
// Depends on the number of tokens only, so a CUDA graph can replay the
// launch as contexts grow.
constexpr int kWarpDecodeMinKeysPerSplit = 32;
// The most splits the kernel takes: its combine gives each split a lane.
constexpr int kMaxWarpDecodeSplits = 32;
int32_t WarpDecodeLaunchSplits(int32_t num_tokens, int32_t num_heads, int32_t max_splits,
                               int64_t resident_warps);

// LaunchAttentionDecode's contract, for a cache WarpDecodeSupports takes.
cudaError_t LaunchWarpDecode(const void* qkv, const int32_t* token_list, int32_t num_tokens,
                             const int32_t* positions, const int32_t* slots, const float* slopes,
                             const PagedKvView& kv, int32_t max_splits, bool store_kv,
                             float* scratch, void* context, DType context_dtype,
                             cudaStream_t stream);

}  // namespace bloom::cuda
