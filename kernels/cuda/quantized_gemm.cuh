// The decode and small-batch product on quantized weights (docs/
// quantization.md): y[N, M] = epilogue(x[N, K] · w'ᵀ + bias), the contract of
// LinearGemm (gemm.cuh) with W an int8 or int4 QuantizedWeight
// (dequantize.cuh) whose dequantization is fused into the weight read.
//
// At N ≤ 16 the product is a stream over the quantized bytes, and at int4
// the multiply-adds per byte are beyond the CUDA cores (N = 16 at 4 TB/s is
// about 250 TFLOP/s), so the fast path runs on the tensor cores: each warp
// streams a contiguous run of the tile layout (dequantize.cuh) through a
// ring of tiles in shared memory that cp.async fills (16 bytes a lane);
// turns them into the A fragments of mma.sync m16n8k16 in registers (a
// shift, a mask and a subtraction per two values; the integers q - zero are
// exact in bf16 and f16), and multiplies them by x, read through L1.
// int4 scales multiply each group's fp32 partial sum (the accumulator, not
// the weights, so the weights stay exact); int8's one scale a row
// multiplies the sum. The grid is persistent: every block takes an equal
// run of the (128-row block, tile) pairs, so no wave is left part full,
// and partial sums of a row block split between blocks meet in an fp32
// workspace by atomics; the block that adds the last tile applies bias and
// GELU, rounds once to y, and zeroes the workspace again, so one launch is
// all a product takes. The order of the atomics makes the last bits of y
// depend on timing when more than two blocks share a row block (small M).
//
// The fast path takes bf16 or f16 x (y of x's dtype or f32) and a weight in
// the kTiles layout (LaunchRepackQuantizedTiles, once at load, where
// QuantizedTilesApply: int8 with K % 64 == 0 and one scale a row; int4
// with K % 128 == 0 and g = 32, 64 or a multiple of 128). Any other valid
// weight (QuantizedWeightValid), row-major, runs on a CUDA-core kernel
// that dequantizes each element: correct, not fast. N above 16 runs in
// launches of 16 rows, each reading W again: for prefill, dequantize into
// a scratch a chunk at a time and use LinearGemm (quantized_scratch_gemm.cuh).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/dequantize.cuh"
#include "kernels/cuda/gemm.cuh"

namespace bloom::cuda {

// Rows of x one launch of the kernels takes at most (32 for int8 and for
// int4 with one group a tile, 16 for finer int4 groups and the CUDA-core
// path); more go in several launches, each reading W again.
constexpr int64_t kQuantizedGemmMaxRows = 32;

// Device memory the product needs for its partial sums, for a weight of
// `out_features` rows. It must be zero before its first use
// (cudaMemsetAsync once, at allocation); every launch leaves it zero again.
// One workspace serves products run one after another on one stream (any
// M up to the one it was sized for); concurrent products need one each.
size_t QuantizedGemmWorkspaceBytes(int64_t out_features);

struct QuantizedGemmOptions {
  // Blocks of the persistent grid; 0: as many as fit on the device at
  // once. Tests set a few, so that one block walks several row blocks and
  // chunks of K.
  int64_t max_blocks = 0;
};

// Whether LaunchQuantizedGemm takes `problem` to the tensor-core path
// (otherwise it runs, more slowly, on the CUDA cores).
bool QuantizedGemmUsesTensorCores(const GemmProblem& problem, const QuantizedWeight& weight,
                                  const void* x);

// Runs the product on `stream`. problem.w_dtype is weight.format, its
// in_features and out_features the weight's; bias (problem.has_bias) is
// [M] in y's dtype. cudaErrorInvalidValue for a problem neither path takes
// (x not BF16/F16, y neither x's dtype nor F32, an invalid weight, a
// workspace under QuantizedGemmWorkspaceBytes).
cudaError_t LaunchQuantizedGemm(const GemmProblem& problem, const QuantizedWeight& weight,
                                const void* x, const void* bias, void* y, void* workspace,
                                size_t workspace_bytes, cudaStream_t stream,
                                const QuantizedGemmOptions& options = QuantizedGemmOptions());

}  // namespace bloom::cuda
