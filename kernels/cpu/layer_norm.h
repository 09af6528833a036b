// Layer normalisation over the last dimension, as torch.nn.LayerNorm: biased
// variance, epsilon inside the square root.
#pragma once

#include <cstdint>

namespace bloom::cpu {

// y[r, c] = (x[r, c] - mean_r) / sqrt(var_r + epsilon) * gamma[c] + beta[c],
// with mean_r and var_r (biased) over the `cols` entries of row r.
// Preconditions: rows >= 0, cols >= 1; x and y are [rows, cols]; gamma and
// beta have `cols` entries. y may alias x (each row is read fully before it
// is written).
void LayerNorm(const float* x, const float* gamma, const float* beta,
               int64_t rows, int64_t cols, float epsilon, float* y);

}  // namespace bloom::cpu
