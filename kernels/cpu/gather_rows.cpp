#include "kernels/cpu/gather_rows.h"

#include <algorithm>

namespace bloom::cpu {

void GatherRows(const float* x, int64_t cols, const int32_t* row_indices,
                int64_t num_rows, float* y) {
#pragma omp parallel for if (num_rows * cols > 65536)
  for (int64_t r = 0; r < num_rows; ++r) {
    const float* row = x + static_cast<int64_t>(row_indices[r]) * cols;
    std::copy(row, row + cols, y + r * cols);
  }
}

}  // namespace bloom::cpu
