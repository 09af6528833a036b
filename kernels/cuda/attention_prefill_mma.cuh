// The tensor-core path of prefill attention (included by
// attention_prefill.cu only): 16-bit K/V (BF16 or F16) and head_dim 64 or
// 128, flash-attention-2 style with mma.sync m16n8k16 and fp32
// accumulation. A block of 4 warps takes a tile of up to 64 queries of one
// head; warp w owns query rows 16w..16w+15. Keys come in chunks of 64 from
// the paged cache into shared memory (rows padded by 16 bytes: conflict-free
// fragment loads). Per chunk: S = Q·Kᵀ (fragments in registers), scale,
// ALiBi bias and causal mask, online softmax on the rows (each row's values
// live in the 4 lanes of a quad), then O += P·V with P taken straight from
// S's accumulator layout and V's fragments from ldmatrix.trans.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cfloat>

#include "kernels/cuda/cuda_dtype.cuh"
#include "kernels/cuda/paged_kv.cuh"

namespace bloom::cuda::mma_attention {

constexpr int kThreads = 128;
constexpr int kQueries = 64;  // = kAttentionTileQueries
constexpr int kKeys = 64;     // keys per chunk

template <typename T>
__device__ __forceinline__ void Mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);

template <>
__device__ __forceinline__ void Mma<__nv_bfloat16>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                                   uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <>
__device__ __forceinline__ void Mma<__half>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats → one register of two 16-bit values (low half first).
template <typename T>
__device__ __forceinline__ uint32_t Pack(float lo, float hi) {
  T pair[2] = {FromFloat<T>(lo), FromFloat<T>(hi)};
  return *reinterpret_cast<uint32_t*>(pair);
}

__device__ __forceinline__ void LdMatrixX4Trans(uint32_t (&r)[4], const void* shared_row) {
  const uint32_t address = static_cast<uint32_t>(__cvta_generic_to_shared(shared_row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

template <typename T, int kHeadDim>
__global__ void __launch_bounds__(kThreads)
    PrefillMmaKernel(const T* qkv, const AttentionTile* tiles, const float* slopes, PagedKvView kv,
                     void* context, DType context_dtype) {
  constexpr int kStride = kHeadDim + 8;  // shared row stride in elements (16-byte pad)
  constexpr int kSteps = kHeadDim / 16;  // k-steps of Q·Kᵀ
  constexpr int kDimTiles = kHeadDim / 8;  // n-tiles of O
  __shared__ __align__(16) T k_s[kKeys * kStride];
  __shared__ __align__(16) T v_s[kKeys * kStride];

  const AttentionTile tile = tiles[blockIdx.x];
  const int head = blockIdx.y;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int group = lane / 4, quad = lane % 4;  // mma fragment coordinates
  const int64_t qkv_row = static_cast<int64_t>(kv.num_heads) * 3 * kHeadDim;
  const float log2e = 1.4426950408889634f;
  const float scale = rsqrtf(static_cast<float>(kHeadDim)) * log2e;
  const float slope = slopes[head] * log2e;

  // Q fragments (A operand) straight from global memory; rows past the
  // tile read as zero.
  const int row0 = warp * 16 + group, row1 = row0 + 8;
  uint32_t q[kSteps][4];
  {
    const T* q0 = qkv + (tile.first_token + row0) * qkv_row + head * 3 * kHeadDim;
    const T* q1 = qkv + (tile.first_token + row1) * qkv_row + head * 3 * kHeadDim;
    const bool in0 = row0 < tile.num_queries, in1 = row1 < tile.num_queries;
#pragma unroll
    for (int s = 0; s < kSteps; ++s) {
      const int d = s * 16 + quad * 2;
      q[s][0] = in0 ? *reinterpret_cast<const uint32_t*>(q0 + d) : 0u;
      q[s][1] = in1 ? *reinterpret_cast<const uint32_t*>(q1 + d) : 0u;
      q[s][2] = in0 ? *reinterpret_cast<const uint32_t*>(q0 + d + 8) : 0u;
      q[s][3] = in1 ? *reinterpret_cast<const uint32_t*>(q1 + d + 8) : 0u;
    }
  }
  const int position0 = tile.first_position + row0, position1 = tile.first_position + row1;
  const int last_key = tile.first_position + tile.num_queries - 1;

  float o[kDimTiles][4];
#pragma unroll
  for (int n = 0; n < kDimTiles; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float max0 = -FLT_MAX, max1 = -FLT_MAX, sum0 = 0.0f, sum1 = 0.0f;

  const T* keys = static_cast<const T*>(kv.keys);
  const T* values = static_cast<const T*>(kv.values);
  constexpr int kVectorsPerRow = kHeadDim / 8;  // 16-byte vectors
  for (int chunk = 0; chunk <= last_key; chunk += kKeys) {
    __syncthreads();  // the previous chunk is consumed
    for (int i = threadIdx.x; i < kKeys * kVectorsPerRow; i += kThreads) {
      const int r = i / kVectorsPerRow, v = i % kVectorsPerRow;
      const int position = chunk + r;
      uint4 k4 = make_uint4(0, 0, 0, 0), v4 = make_uint4(0, 0, 0, 0);
      if (position <= last_key) {
        const int64_t offset = PagedOffset(kv, tile.slot, position, head);
        k4 = reinterpret_cast<const uint4*>(keys + offset)[v];
        v4 = reinterpret_cast<const uint4*>(values + offset)[v];
      }
      *reinterpret_cast<uint4*>(&k_s[r * kStride + v * 8]) = k4;
      *reinterpret_cast<uint4*>(&v_s[r * kStride + v * 8]) = v4;
    }
    __syncthreads();

    // S = Q·Kᵀ for this warp's 16 rows and the chunk's 64 keys.
    float s[kKeys / 8][4];
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n) {
      s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
      const T* k_row = &k_s[(n * 8 + group) * kStride + quad * 2];
#pragma unroll
      for (int step = 0; step < kSteps; ++step) {
        const uint32_t b0 = *reinterpret_cast<const uint32_t*>(k_row + step * 16);
        const uint32_t b1 = *reinterpret_cast<const uint32_t*>(k_row + step * 16 + 8);
        Mma<T>(s[n], q[step], b0, b1);
      }
    }
    // Scores in log2 units with the ALiBi bias; causal mask per row.
    float chunk_max0 = -FLT_MAX, chunk_max1 = -FLT_MAX;
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = chunk + n * 8 + quad * 2 + (e & 1);
        const int position = e < 2 ? position0 : position1;
        const float value = key <= position ? s[n][e] * scale + slope * static_cast<float>(key) : -FLT_MAX;
        s[n][e] = value;
        if (e < 2) chunk_max0 = fmaxf(chunk_max0, value);
        else chunk_max1 = fmaxf(chunk_max1, value);
      }
    }
    for (int offset = 1; offset < 4; offset *= 2) {
      chunk_max0 = fmaxf(chunk_max0, __shfl_xor_sync(0xffffffffu, chunk_max0, offset));
      chunk_max1 = fmaxf(chunk_max1, __shfl_xor_sync(0xffffffffu, chunk_max1, offset));
    }
    const float new_max0 = fmaxf(max0, chunk_max0), new_max1 = fmaxf(max1, chunk_max1);
    const float correction0 = exp2f(max0 - new_max0), correction1 = exp2f(max1 - new_max1);
    max0 = new_max0;
    max1 = new_max1;
    sum0 *= correction0;
    sum1 *= correction1;
#pragma unroll
    for (int n = 0; n < kDimTiles; ++n) {
      o[n][0] *= correction0;
      o[n][1] *= correction0;
      o[n][2] *= correction1;
      o[n][3] *= correction1;
    }
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n) {
      // A masked score is -FLT_MAX: exp2 of it minus a finite max is 0.
      s[n][0] = exp2f(s[n][0] - max0);
      s[n][1] = exp2f(s[n][1] - max0);
      s[n][2] = exp2f(s[n][2] - max1);
      s[n][3] = exp2f(s[n][3] - max1);
      sum0 += s[n][0] + s[n][1];
      sum1 += s[n][2] + s[n][3];
    }

    // O += P·V: P's A fragments are S's accumulators, rounded to T.
#pragma unroll
    for (int step = 0; step < kKeys / 16; ++step) {
      uint32_t p[4];
      p[0] = Pack<T>(s[2 * step][0], s[2 * step][1]);
      p[1] = Pack<T>(s[2 * step][2], s[2 * step][3]);
      p[2] = Pack<T>(s[2 * step + 1][0], s[2 * step + 1][1]);
      p[3] = Pack<T>(s[2 * step + 1][2], s[2 * step + 1][3]);
      const int matrix = lane / 8, r = lane % 8;
      const int key = step * 16 + (matrix & 1) * 8 + r;
#pragma unroll
      for (int n = 0; n < kDimTiles; n += 2) {
        uint32_t b[4];
        LdMatrixX4Trans(b, &v_s[key * kStride + n * 8 + (matrix >> 1) * 8]);
        Mma<T>(o[n], p, b[0], b[1]);
        Mma<T>(o[n + 1], p, b[2], b[3]);
      }
    }
  }

  for (int offset = 1; offset < 4; offset *= 2) {
    sum0 += __shfl_xor_sync(0xffffffffu, sum0, offset);
    sum1 += __shfl_xor_sync(0xffffffffu, sum1, offset);
  }
  const int64_t context_row = static_cast<int64_t>(kv.num_heads) * kHeadDim;
  const float inv0 = 1.0f / sum0, inv1 = 1.0f / sum1;
#pragma unroll
  for (int n = 0; n < kDimTiles; ++n) {
    const int d = head * kHeadDim + n * 8 + quad * 2;
    if (row0 < tile.num_queries) {
      const int64_t base = (tile.first_token + row0) * context_row + d;
      StoreFloat(context, base, context_dtype, o[n][0] * inv0);
      StoreFloat(context, base + 1, context_dtype, o[n][1] * inv0);
    }
    if (row1 < tile.num_queries) {
      const int64_t base = (tile.first_token + row1) * context_row + d;
      StoreFloat(context, base, context_dtype, o[n][2] * inv1);
      StoreFloat(context, base + 1, context_dtype, o[n][3] * inv1);
    }
  }
}

}  // namespace bloom::cuda::mma_attention
