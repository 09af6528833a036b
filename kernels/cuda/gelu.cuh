// BLOOM's tanh-form GELU as a separate op (when not fused into a GEMM).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "runtime/support/dtype.h"

namespace bloom::cuda {

// y[i] = gelu_tanh(x[i]) with transformers' constants, computed in fp32.
cudaError_t LaunchGelu(const void* x, DType x_dtype, int64_t count, void* y, DType y_dtype,
                       cudaStream_t stream);

}  // namespace bloom::cuda
