// Element-wise addition (residual connections).
#pragma once

#include <cstdint>

namespace bloom::cpu {

// out[i] = a[i] + b[i] for i in [0, count). out may alias a or b (the
// residual add is done in place).
void Add(const float* a, const float* b, int64_t count, float* out);

}  // namespace bloom::cpu
