// ALiBi slopes exactly as transformers' build_alibi_tensor computes them,
// including head counts that are not a power of two (BLOOM-176B: 112 heads):
// the closest power of two below gets slopes base^1..base^n, the remaining
// heads take every other power of the next power of two's base.
#pragma once

#include <vector>

namespace bloom::model {

// One slope per head, in global head order. num_heads must be >= 1.
std::vector<float> AlibiSlopes(int num_heads);

}  // namespace bloom::model
