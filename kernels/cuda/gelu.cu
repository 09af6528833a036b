#include "kernels/cuda/gelu.cuh"

#include "kernels/cuda/cuda_dtype.cuh"

namespace bloom::cuda {
namespace {

__global__ void GeluKernel(const void* x, DType x_dtype, int64_t count, void* y, DType y_dtype) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    StoreFloat(y, i, y_dtype, GeluTanh(LoadFloat(x, i, x_dtype)));
  }
}

}  // namespace

cudaError_t LaunchGelu(const void* x, DType x_dtype, int64_t count, void* y, DType y_dtype,
                       cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  constexpr int kThreads = 256;
  GeluKernel<<<GridFor(count, kThreads), kThreads, 0, stream>>>(x, x_dtype, count, y, y_dtype);
  return cudaGetLastError();
}

}  // namespace bloom::cuda
