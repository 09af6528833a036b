// BLOOM's GELU: the tanh approximation written exactly as transformers'
// bloom_gelu_forward, constants included, so the reference rounds the same
// way:  y = x * 0.5 * (1 + tanh(0.79788456 * x * (1 + 0.044715 * x * x))).
#pragma once

#include <cstdint>

namespace bloom::cpu {

// y[i] = gelu_tanh(x[i]) for i in [0, count). y may alias x.
void GeluTanh(const float* x, int64_t count, float* y);

}  // namespace bloom::cpu
