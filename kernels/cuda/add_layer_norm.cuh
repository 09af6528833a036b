// Fused residual add and layer norm: one read of each input, two outputs.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "runtime/support/dtype.h"

namespace bloom::cuda {

// sum = a + b (fp32, rounded to sum_dtype); normed = LayerNorm(sum) with the
// statistics of the fp32 sum before rounding, as plan.fbs specifies for
// AddLayerNorm. cols in [1, 16384]. Outputs may alias inputs.
cudaError_t LaunchAddLayerNorm(const void* a, DType a_dtype, const void* b, DType b_dtype,
                               const void* gamma, DType gamma_dtype, const void* beta,
                               DType beta_dtype, int64_t rows, int64_t cols, float epsilon,
                               void* sum, DType sum_dtype, void* normed, DType normed_dtype,
                               cudaStream_t stream);

}  // namespace bloom::cuda
