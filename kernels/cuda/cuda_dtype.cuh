// Device-side access to tensors whose storage dtype is known only at run
// time (the plan chooses it per tensor). Every kernel reads its operands
// through LoadFloat and writes through StoreFloat, so arithmetic is fp32
// whatever is stored, and narrowing rounds to nearest even (__float2half_rn,
// __float2bfloat16_rn), as the CPU reference's ConvertFromFloat32 does.
// The switch is on a kernel argument, the same for every thread, so it costs
// a uniform branch, not divergence.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "runtime/support/dtype.h"

namespace bloom::cuda {

__device__ __forceinline__ float LoadFloat(const void* base, int64_t index, DType dtype) {
  switch (dtype) {
    case DType::kF16: return __half2float(static_cast<const __half*>(base)[index]);
    case DType::kBF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(base)[index]);
    case DType::kF32: return static_cast<const float*>(base)[index];
    // Not floating: the executor refuses such tensors before any kernel
    // runs (CudaReads), so no launch passes them. Listed, not defaulted, so
    // that a new dtype is a compiler warning here.
    case DType::kI32:
    case DType::kI8:
    case DType::kI4: break;
  }
  return static_cast<const float*>(base)[index];
}

__device__ __forceinline__ void StoreFloat(void* base, int64_t index, DType dtype, float value) {
  switch (dtype) {
    case DType::kF16: static_cast<__half*>(base)[index] = __float2half_rn(value); break;
    case DType::kBF16: static_cast<__nv_bfloat16*>(base)[index] = __float2bfloat16_rn(value); break;
    case DType::kF32: static_cast<float*>(base)[index] = value; break;
    // Not floating: never passed (see LoadFloat).
    case DType::kI32:
    case DType::kI8:
    case DType::kI4: static_cast<float*>(base)[index] = value; break;
  }
}

// Typed conversions for kernels templated on their element type.
__device__ __forceinline__ float ToFloat(float v) { return v; }
__device__ __forceinline__ float ToFloat(__half v) { return __half2float(v); }
__device__ __forceinline__ float ToFloat(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T FromFloat(float v);
template <>
__device__ __forceinline__ float FromFloat<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half FromFloat<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 FromFloat<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// BLOOM's tanh GELU with transformers' constants (kernels/cpu/gelu.h).
__device__ __forceinline__ float GeluTanh(float x) {
  return x * 0.5f * (1.0f + tanhf(0.79788456f * x * (1.0f + 0.044715f * x * x)));
}

inline bool IsFloatDType(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16;
}

// Blocks for a grid-stride loop over `count` elements.
inline unsigned GridFor(int64_t count, int threads) {
  int64_t blocks = (count + threads - 1) / threads;
  if (blocks > 65535LL * 8) blocks = 65535LL * 8;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

}  // namespace bloom::cuda
