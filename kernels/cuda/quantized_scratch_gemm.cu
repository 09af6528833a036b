#include "kernels/cuda/quantized_scratch_gemm.cuh"

#include <algorithm>

namespace bloom::cuda {

size_t QuantizedScratchBytes(int64_t chunk_rows, int64_t in_features, DType scratch_dtype) {
  return static_cast<size_t>(chunk_rows * in_features) * DTypeSize(scratch_dtype);
}

QuantizedScratchStatus RunQuantizedScratchGemm(LinearGemm& gemm, const GemmProblem& problem,
                                               const QuantizedWeight& weight, const void* x,
                                               const void* bias, void* y, void* scratch,
                                               int64_t chunk_rows, cudaStream_t stream) {
  QuantizedScratchStatus status;
  const int64_t m = weight.out_features;
  if (problem.out_features != m || problem.in_features != weight.in_features ||
      problem.w_dtype != problem.x_dtype || (problem.y_stride != 0 && problem.y_stride != m)) {
    status.gemm = CUBLAS_STATUS_INVALID_VALUE;
    return status;
  }
  const int64_t chunk = chunk_rows > 0 ? std::min(chunk_rows, m) : m;
  const size_t y_size = DTypeSize(problem.y_dtype);
  for (int64_t first = 0; first < m; first += chunk) {
    const int64_t rows = std::min(chunk, m - first);
    status.dequantize = LaunchDequantizeRows(weight, first, rows, scratch, problem.x_dtype, stream);
    if (status.dequantize != cudaSuccess) return status;
    GemmProblem part = problem;
    part.out_features = rows;
    part.y_stride = m;
    const void* part_bias = problem.has_bias ? static_cast<const uint8_t*>(bias) + first * y_size : nullptr;
    status.gemm = gemm.Run(part, x, scratch, part_bias, static_cast<uint8_t*>(y) + first * y_size, stream);
    if (status.gemm != CUBLAS_STATUS_SUCCESS) return status;
  }
  return status;
}

}  // namespace bloom::cuda
