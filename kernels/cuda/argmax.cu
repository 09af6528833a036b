#include "kernels/cuda/argmax.cuh"

#include <cfloat>

#include "kernels/cuda/block_reduce.cuh"

namespace bloom::cuda {
namespace {

constexpr int kThreads = 1024;

// One block per row.
__global__ void ArgMaxKernel(const float* logits, int64_t cols, int32_t* out) {
  __shared__ float values[kMaxBlockWarps];
  __shared__ int64_t indices[kMaxBlockWarps];
  const float* row = logits + blockIdx.x * cols;
  float best = -FLT_MAX;
  int64_t best_index = INT64_MAX;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float v = row[c];
    if (!isnan(v)) KeepBetter(best, best_index, v, c);
  }
  BlockArgMax(best, best_index, values, indices);
  if (threadIdx.x == 0) out[blockIdx.x] = best_index == INT64_MAX ? 0 : static_cast<int32_t>(best_index);
}

}  // namespace

cudaError_t LaunchArgMax(const float* logits, int64_t rows, int64_t cols, int32_t* out,
                         cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  ArgMaxKernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(logits, cols, out);
  return cudaGetLastError();
}

}  // namespace bloom::cuda
