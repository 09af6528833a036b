#include "kernels/cuda/add.cuh"

#include "kernels/cuda/cuda_dtype.cuh"

namespace bloom::cuda {
namespace {

__global__ void AddKernel(const void* a, DType a_dtype, const void* b, DType b_dtype,
                          int64_t count, void* out, DType out_dtype) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    StoreFloat(out, i, out_dtype, LoadFloat(a, i, a_dtype) + LoadFloat(b, i, b_dtype));
  }
}

}  // namespace

cudaError_t LaunchAdd(const void* a, DType a_dtype, const void* b, DType b_dtype, int64_t count,
                      void* out, DType out_dtype, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  constexpr int kThreads = 256;
  AddKernel<<<GridFor(count, kThreads), kThreads, 0, stream>>>(a, a_dtype, b, b_dtype, count, out,
                                                               out_dtype);
  return cudaGetLastError();
}

}  // namespace bloom::cuda
