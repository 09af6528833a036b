// Device building blocks shared by LayerNorm and AddLayerNorm: a row held
// in registers (so the output may overwrite the input), block-wide sums, and
// the normalisation itself with fp32 statistics, two-pass (the mean first,
// then squared deviations from it), as the CPU reference does in double.
#pragma once

#include "kernels/cuda/cuda_dtype.cuh"

namespace bloom::cuda {

// Each thread holds at most this many elements of the row: with 1024
// threads a row can be 16384 wide (BLOOM-176B's hidden size is 14336).
constexpr int kRowNormMaxPerThread = 16;
constexpr int64_t kRowNormMaxCols = 1024 * kRowNormMaxPerThread;

// Threads per block for a row of `cols` (a multiple of 32).
inline int RowNormThreads(int64_t cols) {
  int64_t needed = (cols + kRowNormMaxPerThread - 1) / kRowNormMaxPerThread;
  int64_t threads = needed < 256 ? (cols < 256 ? cols : 256) : needed;
  threads = (threads + 31) / 32 * 32;
  return static_cast<int>(threads < 32 ? 32 : threads);
}

// Sum over the block; every thread gets the result. `scratch` holds 32
// floats; the function synchronises before returning, so it may be reused.
__device__ __forceinline__ float BlockSum(float value, float* scratch) {
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int warps = (blockDim.x + 31) / 32;
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  float total = lane < warps ? scratch[lane] : 0.0f;
  for (int offset = 16; offset > 0; offset /= 2) total += __shfl_xor_sync(0xffffffffu, total, offset);
  return total;
}

// Normalises the row held in `v` (element k of this thread is column
// threadIdx.x + k * blockDim.x) and writes y[y_offset + c] = norm * gamma + beta.
__device__ __forceinline__ void NormalizeRow(const float (&v)[kRowNormMaxPerThread], int64_t cols,
                                             const void* gamma, DType gamma_dtype,
                                             const void* beta, DType beta_dtype, float epsilon,
                                             void* y, int64_t y_offset, DType y_dtype,
                                             float* scratch) {
  float sum = 0.0f;
#pragma unroll
  for (int k = 0; k < kRowNormMaxPerThread; ++k) {
    const int64_t c = threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
    if (c < cols) sum += v[k];
  }
  const float mean = BlockSum(sum, scratch) / static_cast<float>(cols);
  float squares = 0.0f;
#pragma unroll
  for (int k = 0; k < kRowNormMaxPerThread; ++k) {
    const int64_t c = threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
    if (c < cols) squares += (v[k] - mean) * (v[k] - mean);
  }
  const float variance = BlockSum(squares, scratch) / static_cast<float>(cols);
  const float inv_std = rsqrtf(variance + epsilon);
#pragma unroll
  for (int k = 0; k < kRowNormMaxPerThread; ++k) {
    const int64_t c = threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
    if (c < cols) {
      const float normalized = (v[k] - mean) * inv_std;
      StoreFloat(y, y_offset + c, y_dtype,
                 normalized * LoadFloat(gamma, c, gamma_dtype) + LoadFloat(beta, c, beta_dtype));
    }
  }
}

}  // namespace bloom::cuda
