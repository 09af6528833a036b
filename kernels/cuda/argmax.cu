#include "kernels/cuda/argmax.cuh"

#include <cfloat>

namespace bloom::cuda {
namespace {

// (value, index) with the larger value winning, the smaller index on ties.
__device__ __forceinline__ void Better(float& value, int64_t& index, float other_value,
                                       int64_t other_index) {
  if (other_value > value || (other_value == value && other_index < index)) {
    value = other_value;
    index = other_index;
  }
}

constexpr int kThreads = 1024;

// One block per row.
__global__ void ArgMaxKernel(const float* logits, int64_t cols, int32_t* out) {
  __shared__ float values[kThreads / 32];
  __shared__ int64_t indices[kThreads / 32];
  const float* row = logits + blockIdx.x * cols;
  float best = -FLT_MAX;
  int64_t best_index = INT64_MAX;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float v = row[c];
    if (!isnan(v)) Better(best, best_index, v, c);
  }
  for (int offset = 16; offset > 0; offset /= 2) {
    Better(best, best_index, __shfl_xor_sync(0xffffffffu, best, offset),
           __shfl_xor_sync(0xffffffffu, best_index, offset));
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) {
    values[warp] = best;
    indices[warp] = best_index;
  }
  __syncthreads();
  if (warp == 0) {
    best = lane < kThreads / 32 ? values[lane] : -FLT_MAX;
    best_index = lane < kThreads / 32 ? indices[lane] : INT64_MAX;
    for (int offset = 16; offset > 0; offset /= 2) {
      Better(best, best_index, __shfl_xor_sync(0xffffffffu, best, offset),
             __shfl_xor_sync(0xffffffffu, best_index, offset));
    }
    if (lane == 0) out[blockIdx.x] = best_index == INT64_MAX ? 0 : static_cast<int32_t>(best_index);
  }
}

}  // namespace

cudaError_t LaunchArgMax(const float* logits, int64_t rows, int64_t cols, int32_t* out,
                         cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  ArgMaxKernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(logits, cols, out);
  return cudaGetLastError();
}

}  // namespace bloom::cuda
