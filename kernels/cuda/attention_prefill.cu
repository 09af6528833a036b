#include "kernels/cuda/attention_prefill.cuh"

#include <cfloat>
#include <type_traits>

#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/attention_prefill_mma.cuh"

namespace bloom::cuda {
namespace {

// A block (128 threads, 4 warps) handles kSubTile queries of a tile: warp w
// owns queries w, w+4, ... of them. Keys come in chunks of 32, one per lane
// for the scores; for the output each lane owns kDims of the head's dims.
constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kSubTile = 16;
constexpr int kQueriesPerWarp = kSubTile / kWarps;
constexpr int kKeyChunk = 32;
static_assert(kAttentionTileQueries % kSubTile == 0, "tiles split into whole sub-tiles");

template <typename T, int kDims>
__global__ void __launch_bounds__(kThreads)
    PrefillKernel(const T* qkv, const AttentionTile* tiles, const float* slopes, PagedKvView kv,
                  void* context, DType context_dtype) {
  extern __shared__ float shared[];
  const int head_dim = kv.head_dim;
  const int padded = head_dim + 1;  // K rows padded: lane j reads row j without bank conflicts
  float* q_s = shared;                          // [kSubTile][head_dim]
  float* k_s = q_s + kSubTile * head_dim;       // [kKeyChunk][head_dim + 1]
  float* v_s = k_s + kKeyChunk * padded;        // [kKeyChunk][head_dim]

  const AttentionTile tile = tiles[blockIdx.x];
  const int head = blockIdx.y;
  const int first_query = blockIdx.z * kSubTile;
  if (first_query >= tile.num_queries) return;
  const int num_queries = min(kSubTile, tile.num_queries - first_query);
  const int64_t qkv_row = static_cast<int64_t>(kv.num_heads) * 3 * head_dim;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const float scale = rsqrtf(static_cast<float>(head_dim));
  const float slope = slopes[head];

  for (int i = threadIdx.x; i < kSubTile * head_dim; i += kThreads) {
    const int q = i / head_dim, d = i % head_dim;
    q_s[i] = q < num_queries
                 ? ToFloat(qkv[(tile.first_token + first_query + q) * qkv_row + head * 3 * head_dim + d])
                 : 0.0f;
  }

  float row_max[kQueriesPerWarp], row_sum[kQueriesPerWarp], acc[kQueriesPerWarp][kDims];
#pragma unroll
  for (int i = 0; i < kQueriesPerWarp; ++i) {
    row_max[i] = -FLT_MAX;
    row_sum[i] = 0.0f;
#pragma unroll
    for (int e = 0; e < kDims; ++e) acc[i][e] = 0.0f;
  }

  const int first_position = tile.first_position + first_query;
  const int last_key = first_position + num_queries - 1;  // causal bound of the sub-tile
  const T* keys = static_cast<const T*>(kv.keys);
  const T* values = static_cast<const T*>(kv.values);
  for (int chunk = 0; chunk <= last_key; chunk += kKeyChunk) {
    __syncthreads();  // previous chunk fully consumed (and q_s written, first time)
    for (int i = threadIdx.x; i < kKeyChunk * head_dim; i += kThreads) {
      const int j = i / head_dim, d = i % head_dim;
      const int position = chunk + j;
      float k = 0.0f, v = 0.0f;
      if (position <= last_key) {
        const int64_t offset = PagedOffset(kv, tile.slot, position, head) + d;
        k = ToFloat(keys[offset]);
        v = ToFloat(values[offset]);
      }
      k_s[j * padded + d] = k;
      v_s[j * head_dim + d] = v;
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < kQueriesPerWarp; ++i) {
      const int q = warp + i * kWarps;
      if (q >= num_queries) continue;  // warp-uniform
      const int position = first_position + q;
      const int key = chunk + lane;
      float score = -FLT_MAX;
      if (key <= position) {
        const float* q_row = q_s + q * head_dim;
        const float* k_row = k_s + lane * padded;
        float dot = 0.0f;
        for (int d = 0; d < head_dim; ++d) dot += q_row[d] * k_row[d];
        score = dot * scale + slope * static_cast<float>(key);
      }
      float chunk_max = score;
      for (int o = 16; o > 0; o /= 2) chunk_max = fmaxf(chunk_max, __shfl_xor_sync(0xffffffffu, chunk_max, o));
      const float new_max = fmaxf(row_max[i], chunk_max);
      const float p = key <= position ? __expf(score - new_max) : 0.0f;
      const float correction = __expf(row_max[i] - new_max);
      float p_sum = p;
      for (int o = 16; o > 0; o /= 2) p_sum += __shfl_xor_sync(0xffffffffu, p_sum, o);
      row_sum[i] = row_sum[i] * correction + p_sum;
      row_max[i] = new_max;
#pragma unroll
      for (int e = 0; e < kDims; ++e) acc[i][e] *= correction;
      const int keys_here = min(kKeyChunk, position - chunk + 1);
      for (int j = 0; j < keys_here; ++j) {
        const float pj = __shfl_sync(0xffffffffu, p, j);
        const float* v_row = v_s + j * head_dim;
#pragma unroll
        for (int e = 0; e < kDims; ++e) {
          const int d = lane + e * 32;
          if (d < head_dim) acc[i][e] += pj * v_row[d];
        }
      }
    }
  }

  const int64_t context_row = static_cast<int64_t>(kv.num_heads) * head_dim;
#pragma unroll
  for (int i = 0; i < kQueriesPerWarp; ++i) {
    const int q = warp + i * kWarps;
    if (q >= num_queries) continue;
    const int64_t base = (tile.first_token + first_query + q) * context_row + head * head_dim;
    const float inv = 1.0f / row_sum[i];
#pragma unroll
    for (int e = 0; e < kDims; ++e) {
      const int d = lane + e * 32;
      if (d < head_dim) StoreFloat(context, base + d, context_dtype, acc[i][e] * inv);
    }
  }
}

}  // namespace

cudaError_t LaunchAttentionPrefill(const void* qkv, const AttentionTile* tiles, int32_t num_tiles,
                                   const float* slopes, const PagedKvView& kv, void* context,
                                   DType context_dtype, cudaStream_t stream) {
  if (num_tiles <= 0) return cudaSuccess;
  if (kv.head_dim < 1 || kv.head_dim > kAttentionMaxHeadDim) return cudaErrorInvalidValue;
  static_assert(mma_attention::kQueries == kAttentionTileQueries, "one tile per tensor-core block");
  // Tensor cores for 16-bit caches at the common head sizes; the SIMT
  // kernel below for everything else (F32, other head_dims).
  if ((kv.dtype == DType::kBF16 || kv.dtype == DType::kF16) && (kv.head_dim == 64 || kv.head_dim == 128)) {
    const dim3 grid(static_cast<unsigned>(num_tiles), static_cast<unsigned>(kv.num_heads));
    auto launch = [&](auto type, auto dim) {
      using T = decltype(type);
      mma_attention::PrefillMmaKernel<T, decltype(dim)::value><<<grid, mma_attention::kThreads, 0, stream>>>(
          static_cast<const T*>(qkv), tiles, slopes, kv, context, context_dtype);
      return cudaGetLastError();
    };
    using D64 = std::integral_constant<int, 64>;
    using D128 = std::integral_constant<int, 128>;
    if (kv.dtype == DType::kBF16) {
      return kv.head_dim == 64 ? launch(__nv_bfloat16{}, D64{}) : launch(__nv_bfloat16{}, D128{});
    }
    return kv.head_dim == 64 ? launch(__half{}, D64{}) : launch(__half{}, D128{});
  }
  const size_t shared_bytes =
      sizeof(float) * (kSubTile * kv.head_dim + kKeyChunk * (kv.head_dim + 1) + kKeyChunk * kv.head_dim);
  const dim3 grid(static_cast<unsigned>(num_tiles), static_cast<unsigned>(kv.num_heads),
                  kAttentionTileQueries / kSubTile);
  return DispatchStorage(kv.dtype, [&](auto type) {
    using T = decltype(type);
    return DispatchDimsPerLane(kv.head_dim, [&](auto dims) {
      auto kernel = PrefillKernel<T, decltype(dims)::value>;
      if (shared_bytes > 48 * 1024) {
        cudaError_t status = cudaFuncSetAttribute(
            kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared_bytes));
        if (status != cudaSuccess) return status;
      }
      kernel<<<grid, kThreads, shared_bytes, stream>>>(static_cast<const T*>(qkv), tiles, slopes, kv,
                                                       context, context_dtype);
      return cudaGetLastError();
    });
  });
}

}  // namespace bloom::cuda
