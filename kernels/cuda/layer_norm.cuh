// Layer normalisation over the last dimension (torch.nn.LayerNorm: biased
// variance, epsilon inside the square root) with fp32 statistics.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "runtime/support/dtype.h"

namespace bloom::cuda {

// y[r, :] = (x[r, :] - mean_r) / sqrt(var_r + epsilon) * gamma + beta for
// r in [0, rows). cols must be in [1, 16384] (cudaErrorInvalidValue
// otherwise). y may alias x.
cudaError_t LaunchLayerNorm(const void* x, DType x_dtype, const void* gamma, DType gamma_dtype,
                            const void* beta, DType beta_dtype, int64_t rows, int64_t cols,
                            float epsilon, void* y, DType y_dtype, cudaStream_t stream);

}  // namespace bloom::cuda
