// Element-wise sum of two tensors of any floating storage dtypes (the
// residual add when the compiler did not fuse it into AddLayerNorm).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "runtime/support/dtype.h"

namespace bloom::cuda {

// out[i] = a[i] + b[i] for i in [0, count), in fp32, rounded to out_dtype.
cudaError_t LaunchAdd(const void* a, DType a_dtype, const void* b, DType b_dtype, int64_t count,
                      void* out, DType out_dtype, cudaStream_t stream);

}  // namespace bloom::cuda
