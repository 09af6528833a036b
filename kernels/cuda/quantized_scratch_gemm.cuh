// The large-batch and prefill product on a quantized weight (docs/
// quantization.md): y[N, M] = epilogue(x[N, K] · w'ᵀ + bias) by dequantizing
// W into a scratch in x's dtype and running cuBLASLt (LinearGemm) on it.
//
// W can go through the scratch a chunk of output rows at a time: dequantize
// rows [r, r + chunk) (LaunchDequantizeRows), then the product of x with
// those rows into columns [r, r + chunk) of y (GemmProblem::y_stride = M),
// in chunk · K elements of scratch instead of M · K. Measured on the H200
// (benchmarks/gpu/quantized_gemm_bench.cu, "scratch" lines), chunks lose
// at every size and shape, 4% to 18x: a chunk small enough to stay in L2
// leaves cuBLASLt too few output tiles to fill the GPU, and the bf16 write
// costs little next to the product anyway. So the executor dequantizes the
// whole weight (chunk 0); chunks are for a plan short of memory.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/dequantize.cuh"
#include "kernels/cuda/gemm.cuh"

namespace bloom::cuda {

// Bytes of scratch for chunks of `chunk_rows` rows.
size_t QuantizedScratchBytes(int64_t chunk_rows, int64_t in_features, DType scratch_dtype);

struct QuantizedScratchStatus {
  cudaError_t dequantize = cudaSuccess;
  cublasStatus_t gemm = CUBLAS_STATUS_SUCCESS;
  bool ok() const { return dequantize == cudaSuccess && gemm == CUBLAS_STATUS_SUCCESS; }
};

// Runs the product on `stream`, in chunks of `chunk_rows` (0: the whole
// weight at once). problem.x_dtype is the scratch's dtype and w_dtype must
// equal it (LinearGemm::Supports decides the rest); in_features and
// out_features are the weight's; bias is [M] in y's dtype; scratch holds
// QuantizedScratchBytes(chunk_rows, K, x_dtype).
QuantizedScratchStatus RunQuantizedScratchGemm(LinearGemm& gemm, const GemmProblem& problem,
                                               const QuantizedWeight& weight, const void* x,
                                               const void* bias, void* y, void* scratch,
                                               int64_t chunk_rows, cudaStream_t stream);

}  // namespace bloom::cuda
