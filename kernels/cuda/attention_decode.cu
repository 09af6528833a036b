#include "kernels/cuda/attention_decode.cuh"

#include <cfloat>
#include <type_traits>

#include "kernels/cuda/attention_common.cuh"

namespace bloom::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;

__device__ __forceinline__ int SplitsFor(int keys, int max_splits) {
  const int wanted = (keys + kDecodeMinKeysPerSplit - 1) / kDecodeMinKeysPerSplit;
  return wanted < max_splits ? wanted : max_splits;
}

// Partial results: per (list index, head, split) the running max, the sum
// of exponentials, and head_dim unnormalised output values.
__device__ __forceinline__ float* PartialAt(float* scratch, int index, int head, int split,
                                            int num_heads, int head_dim, int max_splits) {
  return scratch + ((static_cast<int64_t>(index) * num_heads + head) * max_splits + split) *
                       (head_dim + 2);
}

// Block (i, head, split): warps take chunks of 32 keys in turn; in a chunk
// lane j scores key j against the query (held in shared memory), then the
// warp folds the chunk into its running (max, sum, output) with each lane
// owning kDims dims. The warps' states are merged at the end.
template <typename T, int kDims>
__global__ void __launch_bounds__(kThreads)
    DecodeKernel(const T* qkv, const int32_t* token_list, const int32_t* positions,
                 const int32_t* slots, const float* slopes, PagedKvView kv, int max_splits,
                 float* scratch, void* context, DType context_dtype) {
  extern __shared__ float shared[];
  const int head_dim = kv.head_dim;
  float* q_s = shared;                              // [head_dim]
  float* state_s = q_s + head_dim;                  // [kWarps][2]
  float* out_s = state_s + 2 * kWarps;              // [kWarps][head_dim]

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
  const int splits = SplitsFor(keys, max_splits);
  if (split >= splits) return;
  const int per_split = (keys + splits - 1) / splits;
  const int begin = split * per_split;
  const int end = min(keys, begin + per_split);

  const int64_t qkv_row = static_cast<int64_t>(kv.num_heads) * 3 * head_dim;
  for (int d = threadIdx.x; d < head_dim; d += kThreads) {
    q_s[d] = ToFloat(qkv[t * qkv_row + head * 3 * head_dim + d]);
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
    if (key < end) {
      score = DotRow(key_pool + PagedOffset(kv, slot, key, head), q_s, head_dim) * scale +
              slope * static_cast<float>(key);
    }
    float chunk_max = score;
    for (int o = 16; o > 0; o /= 2) chunk_max = fmaxf(chunk_max, __shfl_xor_sync(0xffffffffu, chunk_max, o));
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
      AccumulateRow<T, kDims>(acc, pj, value_pool + PagedOffset(kv, slot, chunk + j, head),
                              lane * kDims, head_dim);
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
    if (state_s[2 * w + 1] > 0.0f) block_sum += state_s[2 * w + 1] * __expf(state_s[2 * w] - block_max);
  }
  for (int d = threadIdx.x; d < head_dim; d += kThreads) {
    float value = 0.0f;
    for (int w = 0; w < kWarps; ++w) {
      if (state_s[2 * w + 1] > 0.0f) value += out_s[w * head_dim + d] * __expf(state_s[2 * w] - block_max);
    }
    if (splits == 1) {
      StoreFloat(context, t * context_row + head * head_dim + d, context_dtype, value / block_sum);
    } else {
      PartialAt(scratch, index, head, split, kv.num_heads, head_dim, max_splits)[2 + d] = value;
    }
  }
  if (splits > 1 && threadIdx.x == 0) {
    float* partial = PartialAt(scratch, index, head, split, kv.num_heads, head_dim, max_splits);
    partial[0] = block_max;
    partial[1] = block_sum;
  }
}

// Block (i, head): combines the token's splits (when it used more than one).
__global__ void DecodeCombineKernel(const int32_t* token_list, const int32_t* positions,
                                    const int32_t* slots, int num_heads, int head_dim,
                                    int max_splits, const float* scratch, void* context,
                                    DType context_dtype) {
  const int index = blockIdx.x, head = blockIdx.y;
  const int t = token_list[index];
  if (slots[t] < 0) return;
  const int splits = SplitsFor(positions[t] + 1, max_splits);
  if (splits == 1) return;
  float global_max = -FLT_MAX;
  for (int s = 0; s < splits; ++s) {
    global_max = fmaxf(global_max, PartialAt(const_cast<float*>(scratch), index, head, s, num_heads,
                                             head_dim, max_splits)[0]);
  }
  float total = 0.0f;
  for (int s = 0; s < splits; ++s) {
    const float* partial =
        PartialAt(const_cast<float*>(scratch), index, head, s, num_heads, head_dim, max_splits);
    total += partial[1] * __expf(partial[0] - global_max);
  }
  const int64_t context_row = static_cast<int64_t>(num_heads) * head_dim;
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float value = 0.0f;
    for (int s = 0; s < splits; ++s) {
      const float* partial =
          PartialAt(const_cast<float*>(scratch), index, head, s, num_heads, head_dim, max_splits);
      value += partial[2 + d] * __expf(partial[0] - global_max);
    }
    StoreFloat(context, t * context_row + head * head_dim + d, context_dtype, value / total);
  }
}

}  // namespace

int64_t AttentionDecodeScratchFloats(int64_t max_tokens, int32_t num_heads, int32_t head_dim,
                                     int32_t max_splits) {
  return max_tokens * num_heads * max_splits * (static_cast<int64_t>(head_dim) + 2);
}

cudaError_t LaunchAttentionDecode(const void* qkv, const int32_t* token_list, int32_t num_tokens,
                                  const int32_t* positions, const int32_t* slots,
                                  const float* slopes, const PagedKvView& kv, int32_t max_splits,
                                  float* scratch, void* context, DType context_dtype,
                                  cudaStream_t stream) {
  if (num_tokens <= 0) return cudaSuccess;
  if (kv.head_dim < 1 || kv.head_dim > kAttentionMaxHeadDim || max_splits < 1) {
    return cudaErrorInvalidValue;
  }
  const size_t shared_bytes = sizeof(float) * (kv.head_dim + 2 * kWarps + kWarps * kv.head_dim);
  const dim3 grid(static_cast<unsigned>(num_tokens), static_cast<unsigned>(kv.num_heads),
                  static_cast<unsigned>(max_splits));
  cudaError_t status = DispatchStorage(kv.dtype, [&](auto type) {
    using T = decltype(type);
    return DispatchDimsPerLane(kv.head_dim, [&](auto dims) {
      // At most (256 + 8 + 4 * 256) floats: under the default 48 KB, so no
      // attribute call, which keeps the launch capturable in a CUDA graph.
      auto kernel = DecodeKernel<T, decltype(dims)::value>;
      kernel<<<grid, kThreads, shared_bytes, stream>>>(static_cast<const T*>(qkv), token_list,
                                                       positions, slots, slopes, kv, max_splits,
                                                       scratch, context, context_dtype);
      return cudaGetLastError();
    });
  });
  if (status != cudaSuccess || max_splits == 1) return status;
  DecodeCombineKernel<<<dim3(static_cast<unsigned>(num_tokens), static_cast<unsigned>(kv.num_heads)),
                        128, 0, stream>>>(token_list, positions, slots, kv.num_heads, kv.head_dim,
                                          max_splits, scratch, context, context_dtype);
  return cudaGetLastError();
}

}  // namespace bloom::cuda
