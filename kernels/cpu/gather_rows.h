// Row gather: selects the rows of a matrix that a later op needs, e.g. the
// last token of each sequence before the LM head.
#pragma once

#include <cstdint>

namespace bloom::cpu {

// y[r, :] = x[row_indices[r], :] for r in [0, num_rows).
// Preconditions: every index is a valid row of x; x has `cols` columns;
// y is [num_rows, cols] and does not alias x.
void GatherRows(const float* x, int64_t cols, const int32_t* row_indices,
                int64_t num_rows, float* y);

}  // namespace bloom::cpu
