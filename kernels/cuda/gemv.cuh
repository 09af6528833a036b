// Skinny products for decode steps: y[N, M] = epilogue(x[N, K] · Wᵀ + bias)
// for N ≤ kGemvMaxRows, 16-bit x and W of one dtype, y of that dtype or F32,
// the layout and contract of LinearGemm (kernels/cuda/gemm.cuh). At such N
// the product is a stream over W: cuBLASLt's split-K kernel plus its reduce
// pass spends two launches per product and reaches well under the copy
// bandwidth, so here each block reads a few rows of W once, 16 bytes per
// load, every one of its threads taking a strided share of K, and reduces
// in fp32 through shuffles and shared memory; bias and GELU are applied
// before the single rounding to y. The grid is persistent (as many blocks
// as fit on the GPU at once, each looping over row groups) and each thread
// issues its next loads of W before using the current ones, so HBM sees a
// steady stream from the first block to the last (gemv.cu says why). No
// workspace, one launch.
#pragma once

#include <cuda_runtime.h>

#include "kernels/cuda/gemm.cuh"

namespace bloom::cuda {

constexpr int64_t kGemvMaxRows = 8;

// Whether LaunchGemv takes the problem: 1 ≤ rows ≤ kGemvMaxRows, x and W
// both BF16 or both F16, y of that dtype or F32, K a multiple of 8, x and
// W 16-byte aligned (whole rows are then 16-byte aligned too).
bool GemvSupports(const GemmProblem& problem, const void* x, const void* w);

// Returns cudaErrorInvalidValue for a problem GemvSupports refuses.
cudaError_t LaunchGemv(const GemmProblem& problem, const void* x, const void* w, const void* bias,
                       void* y, cudaStream_t stream);

}  // namespace bloom::cuda
