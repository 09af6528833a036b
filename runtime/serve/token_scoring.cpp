#include "runtime/serve/token_scoring.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace bloom::serve {
namespace {

float LogProbOf(absl::Span<const float> logits, const RowStats& stats, int32_t id) {
  return static_cast<float>(static_cast<double>(logits[id]) - stats.log_sum_exp);
}

// log of the softmax mass of every id not in `ids`, from those ids' own
// terms (not 1 - sum, which loses a small rest to cancellation). `mask` is
// all zero on entry and on return.
float LogMassOutside(absl::Span<const float> logits, const RowStats& stats,
                     absl::Span<const int32_t> ids, std::vector<uint8_t>& mask) {
  mask.resize(logits.size(), 0);
  for (int32_t id : ids) mask[id] = 1;
  double rest = 0;
  for (size_t j = 0; j < logits.size(); ++j) {
    if (!mask[j]) rest += std::exp(static_cast<double>(logits[j]) - stats.max);
  }
  for (int32_t id : ids) mask[id] = 0;
  if (rest == 0) return -std::numeric_limits<float>::infinity();
  return static_cast<float>(std::log(rest) + stats.max - stats.log_sum_exp);
}

// p * (log p - log q) for one bucket: 0 where p is 0, +inf where only q is.
double KlTerm(float log_p, float log_q) {
  if (std::isinf(log_p) && log_p < 0) return 0;
  return std::exp(static_cast<double>(log_p)) *
         (static_cast<double>(log_p) - static_cast<double>(log_q));
}

}  // namespace

RowStats StatsOf(absl::Span<const float> logits) {
  RowStats s;
  s.argmax = 0;
  for (size_t j = 1; j < logits.size(); ++j) {
    if (logits[j] > logits[s.argmax]) s.argmax = static_cast<int32_t>(j);
  }
  s.max = logits[s.argmax];
  double sum = 0;
  for (float x : logits) sum += std::exp(static_cast<double>(x) - s.max);
  s.log_sum_exp = s.max + std::log(sum);
  return s;
}

BaseToken TopLogProbsOf(absl::Span<const float> logits, const RowStats& stats, int32_t target,
                        int32_t k, std::vector<int32_t>& ids, std::vector<float>& log_probs,
                        ScoringScratch& scratch) {
  const size_t count = std::min<size_t>(static_cast<size_t>(k), logits.size());
  std::vector<int32_t>& order = scratch.order;
  order.resize(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + count, order.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  ids.assign(order.begin(), order.begin() + count);
  log_probs.resize(count);
  for (size_t i = 0; i < count; ++i) log_probs[i] = LogProbOf(logits, stats, ids[i]);
  BaseToken token;
  token.target = target;
  token.target_log_prob = -TokenNll(logits, stats, target);
  token.log_rest = LogMassOutside(logits, stats, ids, scratch.mask);
  token.ids = ids;
  token.log_probs = log_probs;
  return token;
}

double KlDivergence(const BaseToken& base, absl::Span<const float> logits, const RowStats& stats,
                    ScoringScratch& scratch) {
  double kl = 0;
  for (size_t i = 0; i < base.ids.size(); ++i) {
    kl += KlTerm(base.log_probs[i], LogProbOf(logits, stats, base.ids[i]));
  }
  return kl + KlTerm(base.log_rest, LogMassOutside(logits, stats, base.ids, scratch.mask));
}

}  // namespace bloom::serve
