// Device helpers shared by the prefill and decode attention kernels:
// typed loads of a head's row into fp32, and the storage-type dispatch.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/cuda/cuda_dtype.cuh"
#include "kernels/cuda/paged_kv.cuh"

namespace bloom::cuda {

// Calls f(T{}) with T the C++ type of a floating storage dtype.
template <typename F>
cudaError_t DispatchStorage(DType dtype, F&& f) {
  switch (dtype) {
    case DType::kF32: return f(float{});
    case DType::kF16: return f(__half{});
    case DType::kBF16: return f(__nv_bfloat16{});
    case DType::kI32:
    case DType::kI8:
    case DType::kI4: return cudaErrorInvalidValue;
  }
  return cudaErrorInvalidValue;
}

// Calls f(std::integral_constant<int, N>{}) with N = ceil(head_dim / 32)
// rounded up to 1, 2, 4 or 8: how many of a head's dims each lane of a warp
// owns when accumulating the output. head_dim above 256 is refused.
template <typename F>
cudaError_t DispatchDimsPerLane(int head_dim, F&& f) {
  if (head_dim <= 32) return f(std::integral_constant<int, 1>{});
  if (head_dim <= 64) return f(std::integral_constant<int, 2>{});
  if (head_dim <= 128) return f(std::integral_constant<int, 4>{});
  if (head_dim <= 256) return f(std::integral_constant<int, 8>{});
  return cudaErrorInvalidValue;
}

// q · row for a head's key row of `head_dim` elements of T, q in shared
// memory as fp32. 16-bit rows whose length is a multiple of 8 are read 16
// bytes at a time.
template <typename T>
__device__ __forceinline__ float DotRow(const T* row, const float* q, int head_dim) {
  float dot = 0.0f;
  if constexpr (sizeof(T) == 2) {
    if (head_dim % 8 == 0) {
      const uint4* vectors = reinterpret_cast<const uint4*>(row);
#pragma unroll 4
      for (int v = 0; v < head_dim / 8; ++v) {
        const uint4 packed = vectors[v];
        const T* e = reinterpret_cast<const T*>(&packed);
#pragma unroll
        for (int i = 0; i < 8; ++i) dot += q[v * 8 + i] * ToFloat(e[i]);
      }
      return dot;
    }
  } else {
    if (head_dim % 4 == 0) {
      const float4* vectors = reinterpret_cast<const float4*>(row);
#pragma unroll 4
      for (int v = 0; v < head_dim / 4; ++v) {
        const float4 f = vectors[v];
        dot += q[v * 4] * f.x + q[v * 4 + 1] * f.y + q[v * 4 + 2] * f.z + q[v * 4 + 3] * f.w;
      }
      return dot;
    }
  }
  for (int d = 0; d < head_dim; ++d) dot += q[d] * ToFloat(row[d]);
  return dot;
}

// Adds p * row[first + e] to acc[e] for e in [0, kDims), the elements a
// lane owns (contiguous, so a 16-bit lane of 4 reads 8 bytes at once).
template <typename T, int kDims>
__device__ __forceinline__ void AccumulateRow(float (&acc)[kDims], float p, const T* row, int first,
                                              int head_dim) {
  if constexpr ((kDims * sizeof(T)) % 4 == 0) {
    if (first + kDims <= head_dim && (head_dim * sizeof(T)) % 4 == 0) {
      constexpr int kWords = kDims * sizeof(T) / 4;
      uint32_t words[kWords];
      const uint32_t* source = reinterpret_cast<const uint32_t*>(row + first);
#pragma unroll
      for (int w = 0; w < kWords; ++w) words[w] = source[w];
      const T* e = reinterpret_cast<const T*>(words);
#pragma unroll
      for (int i = 0; i < kDims; ++i) acc[i] += p * ToFloat(e[i]);
      return;
    }
  }
#pragma unroll
  for (int i = 0; i < kDims; ++i) {
    if (first + i < head_dim) acc[i] += p * ToFloat(row[first + i]);
  }
}

}  // namespace bloom::cuda
