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
    default: return cudaErrorInvalidValue;
  }
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

}  // namespace bloom::cuda
