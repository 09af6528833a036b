// Block-wide reductions for kernels that give one block a row: sums in
// double, maxima, and the argmax (first index on ties, as torch.argmax).
// Every thread gets the result, and each function synchronises before it
// writes its scratch, so consecutive calls may share it. The sums add the
// warps' partial sums in one fixed order, so every thread (and every run)
// gets the same bits.
#pragma once

#include <cfloat>
#include <cstdint>

namespace bloom::cuda {

constexpr int kMaxBlockWarps = 32;

// (value, index) pairs: the larger value wins, the smaller index on ties.
__device__ __forceinline__ void KeepBetter(float& value, int64_t& index, float other_value,
                                           int64_t other_index) {
  if (other_value > value || (other_value == value && other_index < index)) {
    value = other_value;
    index = other_index;
  }
}

__device__ __forceinline__ void WarpArgMax(float& value, int64_t& index) {
  for (int offset = 16; offset > 0; offset /= 2) {
    KeepBetter(value, index, __shfl_xor_sync(0xffffffffu, value, offset),
               __shfl_xor_sync(0xffffffffu, index, offset));
  }
}

// `values` and `indices` hold kMaxBlockWarps entries each. Threads that saw
// nothing pass (-FLT_MAX, INT64_MAX).
__device__ __forceinline__ void BlockArgMax(float& value, int64_t& index, float* values,
                                            int64_t* indices) {
  WarpArgMax(value, index);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int warps = (blockDim.x + 31) / 32;
  __syncthreads();
  if (lane == 0) {
    values[warp] = value;
    indices[warp] = index;
  }
  __syncthreads();
  value = lane < warps ? values[lane] : -FLT_MAX;
  index = lane < warps ? indices[lane] : INT64_MAX;
  WarpArgMax(value, index);
}

// `scratch` holds kMaxBlockWarps doubles.
__device__ __forceinline__ double BlockSumDouble(double value, double* scratch) {
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int warps = (blockDim.x + 31) / 32;
  __syncthreads();
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  double total = 0;
  for (int w = 0; w < warps; ++w) total += scratch[w];
  return total;
}

// `scratch` holds kMaxBlockWarps floats.
__device__ __forceinline__ float BlockMaxFloat(float value, float* scratch) {
  for (int offset = 16; offset > 0; offset /= 2) {
    value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int warps = (blockDim.x + 31) / 32;
  __syncthreads();
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  float total = -FLT_MAX;
  for (int w = 0; w < warps; ++w) total = fmaxf(total, scratch[w]);
  return total;
}

// Prefix sums over the block in thread order: thread t gets [start, end),
// the sum of the values before it and that plus its own, computed so that
// thread t's end is bit for bit thread t + 1's start (so every point below
// `total` falls in exactly one thread's range). `scratch` holds
// kMaxBlockWarps doubles.
__device__ __forceinline__ void BlockScanDouble(double value, double* scratch, double& start,
                                                double& end, double& total) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int warps = (blockDim.x + 31) / 32;
  double inclusive = value;
  for (int offset = 1; offset < 32; offset *= 2) {
    const double up = __shfl_up_sync(0xffffffffu, inclusive, offset);
    if (lane >= offset) inclusive += up;
  }
  const double exclusive_in_warp = __shfl_up_sync(0xffffffffu, inclusive, 1);
  __syncthreads();
  if (lane == 31) scratch[warp] = inclusive;
  __syncthreads();
  // The same left-to-right fold in every thread: warp w + 1's `before` is
  // warp w's `before` + scratch[w], exactly what warp w's lane 31 ends at.
  double before = 0;
  total = 0;
  for (int w = 0; w < warps; ++w) {
    if (w < warp) before = before + scratch[w];
    total = total + scratch[w];
  }
  start = lane == 0 ? before : before + exclusive_in_warp;
  end = before + inclusive;
}

}  // namespace bloom::cuda
