#include "kernels/cpu/layer_norm.h"

#include <cmath>

namespace bloom::cpu {

void LayerNorm(const float* x, const float* gamma, const float* beta,
               int64_t rows, int64_t cols, float epsilon, float* y) {
#pragma omp parallel for if (rows * cols > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    // Two passes in double: the mean first, then the squared deviations from
    // it, so a large common offset in the row does not cancel catastrophically.
    double sum = 0.0;
    for (int64_t c = 0; c < cols; ++c) sum += xr[c];
    const double mean = sum / static_cast<double>(cols);
    double sq = 0.0;
    for (int64_t c = 0; c < cols; ++c) {
      const double d = xr[c] - mean;
      sq += d * d;
    }
    const double variance = sq / static_cast<double>(cols);
    const double inv_std = 1.0 / std::sqrt(variance + static_cast<double>(epsilon));
    for (int64_t c = 0; c < cols; ++c) {
      const float normalized = static_cast<float>((xr[c] - mean) * inv_std);
      yr[c] = normalized * gamma[c] + beta[c];
    }
  }
}

}  // namespace bloom::cpu
