// Storage-dtype conversion (the plan's Cast op, and the executor's own
// conversions around GEMMs whose dtype mix cuBLASLt does not take).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "runtime/support/dtype.h"

namespace bloom::cuda {

// y[i] = x[i] converted to y_dtype, rounding to nearest even.
cudaError_t LaunchCast(const void* x, DType x_dtype, int64_t count, void* y, DType y_dtype,
                       cudaStream_t stream);

}  // namespace bloom::cuda
