#include "kernels/cuda/gather_rows.cuh"

#include "kernels/cuda/cuda_dtype.cuh"

namespace bloom::cuda {
namespace {

// One block per output row.
__global__ void GatherRowsKernel(const void* x, DType x_dtype, int64_t cols,
                                 const int32_t* row_indices, void* y, DType y_dtype) {
  const int64_t r = blockIdx.x;
  const int64_t source = static_cast<int64_t>(row_indices[r]) * cols;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    StoreFloat(y, r * cols + c, y_dtype, LoadFloat(x, source + c, x_dtype));
  }
}

}  // namespace

cudaError_t LaunchGatherRows(const void* x, DType x_dtype, int64_t cols,
                             const int32_t* row_indices, int64_t num_rows, void* y,
                             DType y_dtype, cudaStream_t stream) {
  if (num_rows <= 0 || cols <= 0) return cudaSuccess;
  GatherRowsKernel<<<static_cast<unsigned>(num_rows), 256, 0, stream>>>(x, x_dtype, cols,
                                                                         row_indices, y, y_dtype);
  return cudaGetLastError();
}

}  // namespace bloom::cuda
