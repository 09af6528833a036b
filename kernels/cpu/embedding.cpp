#include "kernels/cpu/embedding.h"

#include <algorithm>

namespace bloom::cpu {

void EmbeddingGather(const int32_t* token_ids, int64_t num_tokens,
                     const float* table, int64_t /*vocab*/, int64_t hidden,
                     float* out) {
#pragma omp parallel for if (num_tokens * hidden > 65536)
  for (int64_t t = 0; t < num_tokens; ++t) {
    const float* row = table + static_cast<int64_t>(token_ids[t]) * hidden;
    std::copy(row, row + hidden, out + t * hidden);
  }
}

}  // namespace bloom::cpu
