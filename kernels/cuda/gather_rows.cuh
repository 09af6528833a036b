// Row gather before the LM head: the rows of the packed batch whose logits
// are wanted.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "runtime/support/dtype.h"

namespace bloom::cuda {

// y[r, :] = x[row_indices[r], :] for r in [0, num_rows); row_indices is in
// device memory and every index is a row of x (checked on the host).
cudaError_t LaunchGatherRows(const void* x, DType x_dtype, int64_t cols,
                             const int32_t* row_indices, int64_t num_rows, void* y,
                             DType y_dtype, cudaStream_t stream);

}  // namespace bloom::cuda
