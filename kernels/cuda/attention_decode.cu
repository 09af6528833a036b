#include "kernels/cuda/attention_decode.cuh"

#include <cfloat>
#include <type_traits>

#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/attention_decode_scratch.cuh"
#include "kernels/cuda/attention_decode_warp.cuh"

namespace bloom::cuda {
namespace {

using decode_scratch::GroupAt;
using decode_scratch::GroupFloats;
using decode_scratch::PartialAt;

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;

__device__ __forceinline__ int SplitsFor(int keys, int max_splits) {
  const int wanted = (keys + kDecodeMinKeysPerSplit - 1) / kDecodeMinKeysPerSplit;
  return wanted < max_splits ? wanted : max_splits;
}

// A split's partial (its output values already in partial[2..]): records
// its max and sum, counts the split, and in the last block of the
// (token, head) to finish combines every split into the context row
// (threadfence-reduction pattern), re-arming the counter for the next
// launch.
__device__ __forceinline__ void FinishSplit(float* group, float* partial, int splits,
                                            float block_max, float block_sum, int head_dim,
                                            void* context, int64_t context_offset,
                                            DType context_dtype) {
  __shared__ int is_last;
  if (threadIdx.x == 0) {
    partial[0] = block_max;
    partial[1] = block_sum;
  }
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    int* counter = reinterpret_cast<int*>(group);
    const int done = atomicAdd(counter, 1);
    is_last = done == splits - 1;
    if (is_last) atomicExch(counter, 0);
  }
  __syncthreads();
  if (!is_last) return;
  __threadfence();
  float global_max = -FLT_MAX;
  for (int s = 0; s < splits; ++s)
    global_max = fmaxf(global_max, __ldcg(PartialAt(group, s, head_dim)));
  float total = 0.0f;
  for (int s = 0; s < splits; ++s) {
    const float* other = PartialAt(group, s, head_dim);
    total += __ldcg(other + 1) * __expf(__ldcg(other) - global_max);
  }
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float value = 0.0f;
    for (int s = 0; s < splits; ++s) {
      const float* other = PartialAt(group, s, head_dim);
      value += __ldcg(other + 2 + d) * __expf(__ldcg(other) - global_max);
    }
    StoreFloat(context, context_offset + d, context_dtype, value / total);
  }
}

// Block (i, head, split): warps take chunks of 32 keys in turn; in a chunk
// lane j scores key j against the query (held in shared memory), then the
// warp folds the chunk into its running (max, sum, output) with each lane
// owning kDims dims. The warps' states are merged at the end; with several
// splits the last block of the (token, head) to finish combines them.
template <typename T, int kDims>
__global__ void __launch_bounds__(kThreads)
    DecodeKernel(const T* qkv, const int32_t* token_list, const int32_t* positions,
                 const int32_t* slots, const float* slopes, PagedKvView kv, int max_splits,
                 bool store_kv, float* scratch, void* context, DType context_dtype) {
  extern __shared__ float shared[];
  const int head_dim = kv.head_dim;
  float* q_s = shared;                  // [head_dim]
  float* state_s = q_s + head_dim;      // [kWarps][2]
  float* out_s = state_s + 2 * kWarps;  // [kWarps][head_dim]

  const int index = blockIdx.x, head = blockIdx.y, split = blockIdx.z;
  const int t = token_list[index];
  const int slot = slots[t];
  const int64_t context_row = static_cast<int64_t>(kv.num_heads) * head_dim;
  if (slot < 0) {
    if (split == 0) {
      for (int d = threadIdx.x; d < head_dim; d += kThreads) {
        StoreFloat(context, t * context_row + head * head_dim + d, context_dtype, 0.0f);
      }
    }
    return;
  }
  const int keys = positions[t] + 1;
  const int last = keys - 1;  // the token's own position
  const int splits = SplitsFor(keys, max_splits);
  if (split >= splits) return;
  const int per_split = (keys + splits - 1) / splits;
  const int begin = split * per_split;
  const int end = min(keys, begin + per_split);

  const int64_t qkv_row = static_cast<int64_t>(kv.num_heads) * 3 * head_dim;
  const T* own_q = qkv + t * qkv_row + head * 3 * head_dim;
  const T* own_k = own_q + head_dim;
  const T* own_v = own_k + head_dim;
  for (int d = threadIdx.x; d < head_dim; d += kThreads) q_s[d] = ToFloat(own_q[d]);
  if (store_kv && end == keys) {
    // Only this block reads position `last`, and it reads it from qkv.
    const int64_t offset = PagedOffset(kv, slot, last, head);
    T* k_dst = static_cast<T*>(kv.keys) + offset;
    T* v_dst = static_cast<T*>(kv.values) + offset;
    for (int d = threadIdx.x; d < head_dim; d += kThreads) {
      k_dst[d] = own_k[d];
      v_dst[d] = own_v[d];
    }
  }
  __syncthreads();

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const float scale = rsqrtf(static_cast<float>(head_dim));
  const float slope = slopes[head];
  const T* key_pool = static_cast<const T*>(kv.keys);
  const T* value_pool = static_cast<const T*>(kv.values);
  float row_max = -FLT_MAX, row_sum = 0.0f, acc[kDims];
#pragma unroll
  for (int e = 0; e < kDims; ++e) acc[e] = 0.0f;

  for (int chunk = begin + warp * 32; chunk < end; chunk += kWarps * 32) {
    const int key = chunk + lane;
    float score = -FLT_MAX;
    // Lane j looks up key j's row once (K and V pools share the layout);
    // the V loop below gets it by shuffle, so no key waits on a block-table
    // load of its own. -1 marks the token's own row (read from qkv).
    int64_t row_offset = 0;
    if (key < end) {
      row_offset = key == last ? -1 : PagedOffset(kv, slot, key, head);
      const T* k_row = row_offset < 0 ? own_k : key_pool + row_offset;
      score = DotRow(k_row, q_s, head_dim) * scale + slope * static_cast<float>(key);
    }
    float chunk_max = score;
    for (int o = 16; o > 0; o /= 2)
      chunk_max = fmaxf(chunk_max, __shfl_xor_sync(0xffffffffu, chunk_max, o));
    const float new_max = fmaxf(row_max, chunk_max);
    const float p = key < end ? __expf(score - new_max) : 0.0f;
    const float correction = __expf(row_max - new_max);
    float p_sum = p;
    for (int o = 16; o > 0; o /= 2) p_sum += __shfl_xor_sync(0xffffffffu, p_sum, o);
    row_sum = row_sum * correction + p_sum;
    row_max = new_max;
#pragma unroll
    for (int e = 0; e < kDims; ++e) acc[e] *= correction;
    const int keys_here = min(32, end - chunk);
#pragma unroll 4
    for (int j = 0; j < keys_here; ++j) {
      const float pj = __shfl_sync(0xffffffffu, p, j);
      const int64_t offset_j = __shfl_sync(0xffffffffu, row_offset, j);
      const T* v_row = offset_j < 0 ? own_v : value_pool + offset_j;
      AccumulateRow<T, kDims>(acc, pj, v_row, lane * kDims, head_dim);
    }
  }

  // Merge the warps: rescale each to the block's max.
  if (lane == 0) {
    state_s[2 * warp] = row_max;
    state_s[2 * warp + 1] = row_sum;
  }
#pragma unroll
  for (int e = 0; e < kDims; ++e) {
    const int d = lane * kDims + e;  // contiguous dims per lane (AccumulateRow)
    if (d < head_dim) out_s[warp * head_dim + d] = acc[e];
  }
  __syncthreads();
  float block_max = -FLT_MAX;
  for (int w = 0; w < kWarps; ++w) block_max = fmaxf(block_max, state_s[2 * w]);
  float block_sum = 0.0f;
  for (int w = 0; w < kWarps; ++w) {
    if (state_s[2 * w + 1] > 0.0f)
      block_sum += state_s[2 * w + 1] * __expf(state_s[2 * w] - block_max);
  }
  float* group = GroupAt(scratch, index, head, kv.num_heads, head_dim, max_splits);
  float* partial = PartialAt(group, split, head_dim);
  for (int d = threadIdx.x; d < head_dim; d += kThreads) {
    float value = 0.0f;
    for (int w = 0; w < kWarps; ++w) {
      if (state_s[2 * w + 1] > 0.0f)
        value += out_s[w * head_dim + d] * __expf(state_s[2 * w] - block_max);
    }
    if (splits == 1) {
      StoreFloat(context, t * context_row + head * head_dim + d, context_dtype, value / block_sum);
    } else {
      partial[2 + d] = value;
    }
  }
  if (splits == 1) return;
  FinishSplit(group, partial, splits, block_max, block_sum, head_dim, context,
              t * context_row + head * head_dim, context_dtype);
}

}  // namespace

int32_t AttentionDecodeMaxSplits(int32_t max_seq_len, DecodeAttentionKernel kernel) {
  const int32_t keys =
      kernel == DecodeAttentionKernel::kAuto ? kWarpDecodeMinKeysPerSplit : kDecodeMinKeysPerSplit;
  const int32_t wanted = (max_seq_len + keys - 1) / keys;
  return wanted < 1 ? 1 : (wanted > kMaxDecodeSplits ? kMaxDecodeSplits : wanted);
}

bool DecodeUsesWarpKernel(const PagedKvView& kv, int32_t max_splits, const void* qkv,
                          const void* context) {
  static_assert(kMaxDecodeSplits <= kMaxWarpDecodeSplits, "a plan's splits fit the warp kernel");
  return max_splits >= 1 && max_splits <= kMaxWarpDecodeSplits &&
         WarpDecodeSupports(kv, qkv, context);
}

int64_t AttentionDecodeScratchFloats(int64_t max_tokens, int32_t num_heads, int32_t head_dim,
                                     int32_t max_splits) {
  return max_tokens * num_heads * GroupFloats(head_dim, max_splits);
}

cudaError_t ClearAttentionDecodeScratch(float* scratch, int64_t max_tokens, int32_t num_heads,
                                        int32_t head_dim, int32_t max_splits, cudaStream_t stream) {
  return cudaMemsetAsync(
      scratch, 0,
      sizeof(float) * AttentionDecodeScratchFloats(max_tokens, num_heads, head_dim, max_splits),
      stream);
}

cudaError_t LaunchAttentionDecode(const void* qkv, const int32_t* token_list, int32_t num_tokens,
                                  const int32_t* positions, const int32_t* slots,
                                  const float* slopes, const PagedKvView& kv, int32_t max_splits,
                                  bool store_kv, float* scratch, void* context, DType context_dtype,
                                  cudaStream_t stream, DecodeAttentionKernel choice) {
  if (num_tokens <= 0) return cudaSuccess;
  if (choice == DecodeAttentionKernel::kAuto &&
      DecodeUsesWarpKernel(kv, max_splits, qkv, context)) {
    return LaunchWarpDecode(qkv, token_list, num_tokens, positions, slots, slopes, kv, max_splits,
                            store_kv, scratch, context, context_dtype, stream);
  }
  if (kv.head_dim < 1 || kv.head_dim > kAttentionMaxHeadDim || max_splits < 1) {
    return cudaErrorInvalidValue;
  }
  const size_t shared_bytes = sizeof(float) * (kv.head_dim + 2 * kWarps + kWarps * kv.head_dim);
  const dim3 grid(static_cast<unsigned>(num_tokens), static_cast<unsigned>(kv.num_heads),
                  static_cast<unsigned>(max_splits));
  return DispatchStorage(kv.dtype, [&](auto type) {
    using T = decltype(type);
    return DispatchDimsPerLane(kv.head_dim, [&](auto dims) {
      // At most (256 + 8 + 4 * 256) floats: under the default 48 KB, so no
      // attribute call, which keeps the launch capturable in a CUDA graph.
      auto kernel = DecodeKernel<T, decltype(dims)::value>;
      kernel<<<grid, kThreads, shared_bytes, stream>>>(static_cast<const T*>(qkv), token_list,
                                                       positions, slots, slopes, kv, max_splits,
                                                       store_kv, scratch, context, context_dtype);
      return cudaGetLastError();
    });
  });
}

}  // namespace bloom::cuda
