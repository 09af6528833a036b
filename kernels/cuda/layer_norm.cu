#include "kernels/cuda/layer_norm.cuh"

#include "kernels/cuda/row_norm.cuh"

namespace bloom::cuda {
namespace {

// One block per row.
__global__ void LayerNormKernel(const void* x, DType x_dtype, const void* gamma, DType gamma_dtype,
                                const void* beta, DType beta_dtype, int64_t cols, float epsilon,
                                void* y, DType y_dtype) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  float v[kRowNormMaxPerThread];
#pragma unroll
  for (int k = 0; k < kRowNormMaxPerThread; ++k) {
    const int64_t c = threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
    v[k] = c < cols ? LoadFloat(x, row * cols + c, x_dtype) : 0.0f;
  }
  // Every read of the row precedes every write (BlockSum synchronises), so
  // y may alias x.
  NormalizeRow(v, cols, gamma, gamma_dtype, beta, beta_dtype, epsilon, y, row * cols, y_dtype,
               scratch);
}

}  // namespace

cudaError_t LaunchLayerNorm(const void* x, DType x_dtype, const void* gamma, DType gamma_dtype,
                            const void* beta, DType beta_dtype, int64_t rows, int64_t cols,
                            float epsilon, void* y, DType y_dtype, cudaStream_t stream) {
  if (cols < 1 || cols > kRowNormMaxCols) return cudaErrorInvalidValue;
  if (rows <= 0) return cudaSuccess;
  LayerNormKernel<<<static_cast<unsigned>(rows), RowNormThreads(cols), 0, stream>>>(
      x, x_dtype, gamma, gamma_dtype, beta, beta_dtype, cols, epsilon, y, y_dtype);
  return cudaGetLastError();
}

}  // namespace bloom::cuda
