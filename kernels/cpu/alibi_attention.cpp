#include "kernels/cpu/alibi_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace bloom::cpu {

void AlibiAttention(const float* qkv, const int32_t* positions,
                    const int32_t* sequence_slots, int64_t num_tokens,
                    const float* alibi_slopes, const PagedKvLayer& kv,
                    float* context) {
  const int64_t num_heads = kv.num_heads;
  const int64_t head_dim = kv.head_dim;
  const int64_t qkv_row = num_heads * 3 * head_dim;
  const int64_t context_row = num_heads * head_dim;

  // Phase 1: write this batch's keys and values into the cache. Distinct
  // tokens write distinct (slot, position) entries, so this is race free.
#pragma omp parallel for if (num_tokens * qkv_row > 65536)
  for (int64_t t = 0; t < num_tokens; ++t) {
    const float* row = qkv + t * qkv_row;
    for (int64_t h = 0; h < num_heads; ++h) {
      const int64_t offset = PagedKvOffset(kv, sequence_slots[t], positions[t],
                                           static_cast<int32_t>(h));
      const float* k = row + h * 3 * head_dim + head_dim;
      const float* v = k + head_dim;
      std::copy(k, k + head_dim, kv.keys + offset);
      std::copy(v, v + head_dim, kv.values + offset);
    }
  }

  // Phase 2: attend. Each (token, head) pair is independent.
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
#pragma omp parallel if (num_tokens * num_heads >= 4)
  {
    std::vector<float> scores;
    std::vector<double> accumulator(static_cast<size_t>(head_dim));
#pragma omp for collapse(2) schedule(dynamic)
    for (int64_t t = 0; t < num_tokens; ++t) {
      for (int64_t h = 0; h < num_heads; ++h) {
        const int32_t slot = sequence_slots[t];
        const int32_t last = positions[t];
        const float* q = qkv + t * qkv_row + h * 3 * head_dim;
        const float slope = alibi_slopes[h];

        scores.resize(static_cast<size_t>(last) + 1);
        float max_score = -INFINITY;
        for (int32_t j = 0; j <= last; ++j) {
          const float* k = kv.keys + PagedKvOffset(kv, slot, j, static_cast<int32_t>(h));
          float dot = 0.0f;
          for (int64_t d = 0; d < head_dim; ++d) dot += q[d] * k[d];
          const float score = dot * scale + slope * static_cast<float>(j);
          scores[j] = score;
          max_score = std::max(max_score, score);
        }

        // Softmax with the maximum subtracted (every exponent <= 0, so no
        // overflow); the weighted sum of values is accumulated in double and
        // normalised once at the end.
        double denominator = 0.0;
        std::fill(accumulator.begin(), accumulator.end(), 0.0);
        for (int32_t j = 0; j <= last; ++j) {
          const double weight = std::exp(static_cast<double>(scores[j] - max_score));
          denominator += weight;
          const float* v = kv.values + PagedKvOffset(kv, slot, j, static_cast<int32_t>(h));
          for (int64_t d = 0; d < head_dim; ++d) accumulator[d] += weight * v[d];
        }
        float* out = context + t * context_row + h * head_dim;
        for (int64_t d = 0; d < head_dim; ++d) {
          out[d] = static_cast<float>(accumulator[d] / denominator);
        }
      }
    }
  }
}

}  // namespace bloom::cpu
