#include <cfloat>
#include <cstdint>

#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/attention_decode_scratch.cuh"
#include "kernels/cuda/device_sm_count.cuh"
#include "kernels/cuda/attention_decode_warp.cuh"

namespace bloom::cuda {
namespace {

using decode_scratch::GroupAt;
using decode_scratch::PartialAt;

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFullMask = 0xffffffffu;
// Keys a warp reads per round, K and V together, before it uses any: what
// keeps DRAM busy when a step has few (token, head) pairs and short
// contexts, where one row in flight per warp would leave the kernel
// waiting on latency.
constexpr int kTileKeys = 16;

// One lane's 16 bytes of a row, as floats.
template <typename T>
constexpr int kPieceElems = 16 / static_cast<int>(sizeof(T));

template <typename T>
__device__ __forceinline__ void PieceToFloats(const uint4& piece, float (&out)[kPieceElems<T>]) {
  const T* e = reinterpret_cast<const T*>(&piece);
#pragma unroll
  for (int i = 0; i < kPieceElems<T>; ++i) out[i] = ToFloat(e[i]);
}

// Warp w of block b takes work item 4b + w, heads fastest, then tokens,
// then splits: a block's warps share a token (its positions, slot and
// block table rows) and items of split s > 0 come after every split 0.
//
// Lanes form 32 / kLanesPerRow groups of kLanesPerRow; a group reads a key
// row (and its value row) whole, lane `sub` of the group taking the row's
// 16-byte piece `sub`. In a round each group takes kPasses keys, so the
// warp has kTileKeys rows of K and V in flight. Scores are reduced over a
// group by shuffles; the round's max over the warp, so every group shares
// the running max and the groups' outputs add up at the end.
template <typename T, int kLanesPerRow>
__global__ void __launch_bounds__(kThreads)
    WarpDecodeKernel(const T* __restrict__ qkv, const int32_t* __restrict__ token_list,
                     int32_t num_tokens, const int32_t* __restrict__ positions,
                     const int32_t* __restrict__ slots, const float* __restrict__ slopes,
                     PagedKvView kv, int launch_splits, int max_splits, bool store_kv,
                     float* scratch, void* context, DType context_dtype) {
  constexpr int kElems = kPieceElems<T>;
  constexpr int kRowsPerPass = 32 / kLanesPerRow;
  constexpr int kPassesWanted = kTileKeys / kRowsPerPass;
  // Whole rows of f32 head_dim 128 are 32 pieces: 8 passes keep the
  // registers of 16 pieces in flight.
  constexpr int kPasses = kPassesWanted < 1 ? 1 : (kPassesWanted > 8 ? 8 : kPassesWanted);
  constexpr int kRoundKeys = kPasses * kRowsPerPass;
  const int head_dim = kv.head_dim;  // = kLanesPerRow * kElems
  const int num_heads = kv.num_heads;

  const int lane = threadIdx.x % 32;
  const int64_t item = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  const int head = static_cast<int>(item % num_heads);
  const int64_t rest = item / num_heads;
  const int index = static_cast<int>(rest % num_tokens);
  const int split = static_cast<int>(rest / num_tokens);
  if (split >= launch_splits) return;  // the grid's rounding up

  const int t = token_list[index];
  const int slot = slots[t];
  const int64_t context_row = static_cast<int64_t>(num_heads) * head_dim;
  const int64_t out_offset = t * context_row + static_cast<int64_t>(head) * head_dim;
  const int group = lane / kLanesPerRow, sub = lane % kLanesPerRow;
  if (slot < 0) {
    // Graph padding: a zero row, and neither the cache nor the counters.
    if (split == 0 && group == 0) {
      for (int e = 0; e < kElems; ++e)
        StoreFloat(context, out_offset + sub * kElems + e, context_dtype, 0.0f);
    }
    return;
  }
  const int keys = positions[t] + 1;
  const int last = keys - 1;  // the token's own position
  const int wanted = (keys + kWarpDecodeMinKeysPerSplit - 1) / kWarpDecodeMinKeysPerSplit;
  const int splits = wanted < launch_splits ? wanted : launch_splits;
  if (split >= splits) return;
  const int per_split = (keys + splits - 1) / splits;
  const int begin = split * per_split;
  const int end = min(keys, begin + per_split);

  const int64_t qkv_row = static_cast<int64_t>(num_heads) * 3 * head_dim;
  const T* own_q = qkv + t * qkv_row + static_cast<int64_t>(head) * 3 * head_dim;
  const T* own_k = own_q + head_dim;
  const T* own_v = own_k + head_dim;
  float q[kElems];
  PieceToFloats<T>(reinterpret_cast<const uint4*>(own_q)[sub], q);
  if (store_kv && end == keys && group == 0) {
    // Only this warp reads position `last`, and it reads it from qkv.
    const int64_t offset = PagedOffset(kv, slot, last, head);
    reinterpret_cast<uint4*>(static_cast<T*>(kv.keys) + offset)[sub] =
        reinterpret_cast<const uint4*>(own_k)[sub];
    reinterpret_cast<uint4*>(static_cast<T*>(kv.values) + offset)[sub] =
        reinterpret_cast<const uint4*>(own_v)[sub];
  }

  const float scale = rsqrtf(static_cast<float>(head_dim));
  const float slope = slopes[head];
  const T* key_pool = static_cast<const T*>(kv.keys);
  const T* value_pool = static_cast<const T*>(kv.values);
  float row_max = -FLT_MAX, row_sum = 0.0f, acc[kElems];
#pragma unroll
  for (int e = 0; e < kElems; ++e) acc[e] = 0.0f;

  // begin and end are the warp's: every shuffle below runs on all lanes.
  for (int round = begin; round < end; round += kRoundKeys) {
    uint4 k_piece[kPasses], v_piece[kPasses];
#pragma unroll
    for (int p = 0; p < kPasses; ++p) {
      const int key = round + p * kRowsPerPass + group;
      // Past the split, a lane re-reads its own row (in cache, never used).
      const T* k_row = own_k;
      const T* v_row = own_v;
      if (key < end && key != last) {
        const int64_t offset = PagedOffset(kv, slot, key, head);
        k_row = key_pool + offset;
        v_row = value_pool + offset;
      }
      k_piece[p] = reinterpret_cast<const uint4*>(k_row)[sub];
      v_piece[p] = reinterpret_cast<const uint4*>(v_row)[sub];
    }
    float score[kPasses];
    float round_max = -FLT_MAX;
#pragma unroll
    for (int p = 0; p < kPasses; ++p) {
      float k[kElems];
      PieceToFloats<T>(k_piece[p], k);
      float dot = 0.0f;
#pragma unroll
      for (int e = 0; e < kElems; ++e) dot += q[e] * k[e];
#pragma unroll
      for (int o = kLanesPerRow / 2; o > 0; o /= 2) dot += __shfl_xor_sync(kFullMask, dot, o);
      const int key = round + p * kRowsPerPass + group;
      score[p] = key < end ? dot * scale + slope * static_cast<float>(key) : -FLT_MAX;
      round_max = fmaxf(round_max, score[p]);
    }
#pragma unroll
    for (int o = 16; o >= kLanesPerRow; o /= 2) {
      round_max = fmaxf(round_max, __shfl_xor_sync(kFullMask, round_max, o));
    }
    // Key `round` is in every round's range, so new_max is a real score.
    const float new_max = fmaxf(row_max, round_max);
    const float correction = __expf(row_max - new_max);
    row_sum *= correction;
#pragma unroll
    for (int e = 0; e < kElems; ++e) acc[e] *= correction;
#pragma unroll
    for (int p = 0; p < kPasses; ++p) {
      const int key = round + p * kRowsPerPass + group;
      const float weight = key < end ? __expf(score[p] - new_max) : 0.0f;
      row_sum += weight;
      float v[kElems];
      PieceToFloats<T>(v_piece[p], v);
#pragma unroll
      for (int e = 0; e < kElems; ++e) acc[e] += weight * v[e];
    }
    row_max = new_max;
  }

  // The groups share row_max: their sums and outputs add. After the
  // butterfly every lane holds the warp's total for its piece `sub`.
#pragma unroll
  for (int o = 16; o >= kLanesPerRow; o /= 2) {
    row_sum += __shfl_xor_sync(kFullMask, row_sum, o);
#pragma unroll
    for (int e = 0; e < kElems; ++e) acc[e] += __shfl_xor_sync(kFullMask, acc[e], o);
  }
  if (splits == 1) {
    if (group == 0) {
#pragma unroll
      for (int e = 0; e < kElems; ++e) {
        StoreFloat(context, out_offset + sub * kElems + e, context_dtype, acc[e] / row_sum);
      }
    }
    return;
  }

  // A split's partial; the last warp of the (token, head) to finish
  // combines them all (threadfence-reduction pattern), re-arming the
  // counter for the next launch.
  float* partials = GroupAt(scratch, index, head, num_heads, head_dim, max_splits);
  float* partial = PartialAt(partials, split, head_dim);
  if (group == 0) {
#pragma unroll
    for (int e = 0; e < kElems; ++e) partial[2 + sub * kElems + e] = acc[e];
  }
  if (lane == 0) {
    partial[0] = row_max;
    partial[1] = row_sum;
  }
  __threadfence();
  __syncwarp();
  int is_last = 0;
  if (lane == 0) {
    int* counter = reinterpret_cast<int*>(partials);
    is_last = atomicAdd(counter, 1) == splits - 1;
    if (is_last) atomicExch(counter, 0);
  }
  if (!__shfl_sync(kFullMask, is_last, 0)) return;
  __threadfence();
  // splits <= kMaxWarpDecodeSplits: lane s holds split s's max and
  // its weight exp(max_s - global max).
  const float* mine = PartialAt(partials, lane < splits ? lane : 0, head_dim);
  const float split_max = lane < splits ? __ldcg(mine) : -FLT_MAX;
  float global_max = split_max;
#pragma unroll
  for (int o = 16; o > 0; o /= 2)
    global_max = fmaxf(global_max, __shfl_xor_sync(kFullMask, global_max, o));
  const float factor = lane < splits ? __expf(split_max - global_max) : 0.0f;
  float total = lane < splits ? __ldcg(mine + 1) * factor : 0.0f;
#pragma unroll
  for (int o = 16; o > 0; o /= 2) total += __shfl_xor_sync(kFullMask, total, o);
  for (int base = 0; base < head_dim; base += 32) {
    const int d = base + lane;
    float value = 0.0f;
    for (int s = 0; s < splits; ++s) {
      const float f = __shfl_sync(kFullMask, factor, s);
      if (d < head_dim) value += __ldcg(PartialAt(partials, s, head_dim) + 2 + d) * f;
    }
    if (d < head_dim) StoreFloat(context, out_offset + d, context_dtype, value / total);
  }
}

// Calls f(std::integral_constant<int, G>{}) with G the 16-byte pieces of a
// row, for the G the kernel is built for.
template <typename F>
cudaError_t DispatchLanesPerRow(int pieces, F&& f) {
  switch (pieces) {
    case 2:
      return f(std::integral_constant<int, 2>{});
    case 4:
      return f(std::integral_constant<int, 4>{});
    case 8:
      return f(std::integral_constant<int, 8>{});
    case 16:
      return f(std::integral_constant<int, 16>{});
    case 32:
      return f(std::integral_constant<int, 32>{});
    default:
      return cudaErrorInvalidValue;
  }
}

int RowPieces(const PagedKvView& kv) {
  const int64_t bytes = static_cast<int64_t>(kv.head_dim) * (kv.dtype == DType::kF32 ? 4 : 2);
  return bytes % 16 == 0 ? static_cast<int>(bytes / 16) : 0;
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

bool WarpDecodeSupports(const PagedKvView& kv, const void* qkv, const void* context) {
  if (!IsFloatDType(kv.dtype)) return false;
  const int pieces = RowPieces(kv);
  const bool power_of_two = pieces >= 2 && pieces <= 32 && (pieces & (pieces - 1)) == 0;
  return power_of_two && Aligned16(qkv) && Aligned16(context) && Aligned16(kv.keys) &&
         Aligned16(kv.values);
}

int32_t WarpDecodeLaunchSplits(int32_t num_tokens, int32_t num_heads, int32_t max_splits,
                               int64_t resident_warps) {
  const int64_t items = static_cast<int64_t>(num_tokens) * num_heads;
  if (items <= 0) return 1;
  const int64_t wanted = resident_warps / items;
  return static_cast<int32_t>(wanted < 1 ? 1 : (wanted > max_splits ? max_splits : wanted));
}

cudaError_t LaunchWarpDecode(const void* qkv, const int32_t* token_list, int32_t num_tokens,
                             const int32_t* positions, const int32_t* slots, const float* slopes,
                             const PagedKvView& kv, int32_t max_splits, bool store_kv,
                             float* scratch, void* context, DType context_dtype,
                             cudaStream_t stream) {
  if (num_tokens <= 0) return cudaSuccess;
  if (!WarpDecodeSupports(kv, qkv, context) || max_splits < 1 ||
      max_splits > kMaxWarpDecodeSplits) {
    return cudaErrorInvalidValue;
  }
  int sm_count = 0;
  if (const cudaError_t error = CurrentDeviceSmCount(&sm_count); error != cudaSuccess) {
    return error;
  }
  return DispatchStorage(kv.dtype, [&](auto type) {
    using T = decltype(type);
    return DispatchLanesPerRow(RowPieces(kv), [&](auto lanes) {
      auto kernel = WarpDecodeKernel<T, decltype(lanes)::value>;
      // Blocks an SM holds, from the kernel's registers: a host query, no
      // stream work, so a graph capture may run it.
      int blocks_per_sm = 0;
      const cudaError_t status =
          cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks_per_sm, kernel, kThreads, 0);
      if (status != cudaSuccess) return status;
      const int64_t resident_warps =
          static_cast<int64_t>(sm_count) * (blocks_per_sm < 1 ? 1 : blocks_per_sm) * kWarps;
      const int32_t launch_splits =
          WarpDecodeLaunchSplits(num_tokens, kv.num_heads, max_splits, resident_warps);
      const int64_t warps = static_cast<int64_t>(num_tokens) * kv.num_heads * launch_splits;
      const int64_t blocks = (warps + kWarps - 1) / kWarps;
      if (blocks > 0x7fffffffLL) return cudaErrorInvalidValue;
      kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
          static_cast<const T*>(qkv), token_list, num_tokens, positions, slots, slopes, kv,
          launch_splits, max_splits, store_kv, scratch, context, context_dtype);
      return cudaGetLastError();
    });
  });
}

}  // namespace bloom::cuda
