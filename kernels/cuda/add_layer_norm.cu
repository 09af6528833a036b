#include "kernels/cuda/add_layer_norm.cuh"

#include "kernels/cuda/row_norm.cuh"

namespace bloom::cuda {
namespace {

__global__ void AddLayerNormKernel(const void* a, DType a_dtype, const void* b, DType b_dtype,
                                   const void* gamma, DType gamma_dtype, const void* beta,
                                   DType beta_dtype, int64_t cols, float epsilon, void* sum,
                                   DType sum_dtype, void* normed, DType normed_dtype) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  float v[kRowNormMaxPerThread];
#pragma unroll
  for (int k = 0; k < kRowNormMaxPerThread; ++k) {
    const int64_t c = threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
    v[k] = c < cols ? LoadFloat(a, row * cols + c, a_dtype) + LoadFloat(b, row * cols + c, b_dtype)
                    : 0.0f;
  }
  __syncthreads();  // all reads of the row before any write: outputs may alias inputs
#pragma unroll
  for (int k = 0; k < kRowNormMaxPerThread; ++k) {
    const int64_t c = threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
    if (c < cols) StoreFloat(sum, row * cols + c, sum_dtype, v[k]);
  }
  NormalizeRow(v, cols, gamma, gamma_dtype, beta, beta_dtype, epsilon, normed, row * cols,
               normed_dtype, scratch);
}

}  // namespace

cudaError_t LaunchAddLayerNorm(const void* a, DType a_dtype, const void* b, DType b_dtype,
                               const void* gamma, DType gamma_dtype, const void* beta,
                               DType beta_dtype, int64_t rows, int64_t cols, float epsilon,
                               void* sum, DType sum_dtype, void* normed, DType normed_dtype,
                               cudaStream_t stream) {
  if (cols < 1 || cols > kRowNormMaxCols) return cudaErrorInvalidValue;
  if (rows <= 0) return cudaSuccess;
  AddLayerNormKernel<<<static_cast<unsigned>(rows), RowNormThreads(cols), 0, stream>>>(
      a, a_dtype, b, b_dtype, gamma, gamma_dtype, beta, beta_dtype, cols, epsilon, sum, sum_dtype,
      normed, normed_dtype);
  return cudaGetLastError();
}

}  // namespace bloom::cuda
