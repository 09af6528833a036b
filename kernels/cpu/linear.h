// Fully connected layer with PyTorch's weight layout: y = x · weightᵀ + bias.
#pragma once

#include <cstdint>

namespace bloom::cpu {

// y[r, o] = sum_i x[r, i] * weight[o, i] + bias[o]   (bias term only if
// bias is non-null), accumulated in fp32.
// Shapes: x [rows, in_features], weight [out_features, in_features]
// (nn.Linear's layout, as stored in the checkpoint), bias [out_features],
// y [rows, out_features]. Preconditions: all sizes >= 0 (in_features 0 gives
// y = bias or 0); y does not alias x, weight or bias.
void Linear(const float* x, const float* weight, const float* bias,
            int64_t rows, int64_t in_features, int64_t out_features,
            float* y);

}  // namespace bloom::cpu
