// The math of scoring one logit row against the next token: its
// log-softmax (in double), a token's negative log-likelihood, the top-K
// log-probabilities plus the log of the mass left outside them (what a
// KL-divergence base file keeps of a row), and the KL divergence of a row
// from such a kept row.
//
// KL over the top-K + rest buckets: with P the base's distribution and Q
// the run's, both are reduced to the base's K most likely ids plus one
// "rest" bucket (everything else), and
//   KL = sum_i p_i (log p_i - log q_i) + p_rest (log p_rest - log q_rest).
// By the log-sum inequality this is a lower bound on the full-vocabulary
// KL(P || Q), exact when the K ids hold all of P's mass. Both sides'
// log-probabilities are rounded to float before they are compared (the
// base file stores floats), so a run compared with its own base gives
// exactly 0 when its logits are the same bits.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace bloom::serve {

// A row's log-softmax normaliser and its argmax (the first index on ties).
struct RowStats {
  double max = 0;
  double log_sum_exp = 0;
  int32_t argmax = 0;
};
RowStats StatsOf(absl::Span<const float> logits);

// -log_softmax(logits)[target], in double.
inline double TokenNll(absl::Span<const float> logits, const RowStats& stats, int32_t target) {
  return stats.log_sum_exp - static_cast<double>(logits[target]);
}

// What a base file keeps of one scored row: the scored (next) token and its
// log-probability, the K most likely ids (log-probability descending, the
// lower id first on ties) with theirs, and log(1 - their mass), computed
// from the other ids' own terms (-inf when K covers the vocabulary).
struct BaseToken {
  int32_t target = 0;
  double target_log_prob = 0;  // in double, for the base's PPL
  float log_rest = 0;
  absl::Span<const int32_t> ids;
  absl::Span<const float> log_probs;
};

// Vocabulary-sized buffers reused from row to row (the mask stays all
// zero between calls).
struct ScoringScratch {
  std::vector<uint8_t> mask;
  std::vector<int32_t> order;
};

// Computes a row's top-K (K = min(k, vocab)) into `ids` and `log_probs` and
// returns its BaseToken over them.
BaseToken TopLogProbsOf(absl::Span<const float> logits, const RowStats& stats, int32_t target,
                        int32_t k, std::vector<int32_t>& ids, std::vector<float>& log_probs,
                        ScoringScratch& scratch);

// KL(base || run) over the base's K ids plus the rest bucket (see above).
// +inf where the run gives zero mass to a bucket the base does not.
double KlDivergence(const BaseToken& base, absl::Span<const float> logits, const RowStats& stats,
                    ScoringScratch& scratch);

}  // namespace bloom::serve
