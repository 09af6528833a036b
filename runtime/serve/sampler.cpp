#include "runtime/serve/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace bloom {
namespace {

constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

// Token ids sorted by increasing logit; ties keep id order.
std::vector<int32_t> IdsByIncreasingLogit(absl::Span<const float> logits) {
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(),
                   [&](int32_t a, int32_t b) { return logits[a] < logits[b]; });
  return ids;
}

}  // namespace

absl::Status ValidateSamplingParams(const SamplingParams& params,
                                    const std::function<std::string(const char*)>& field_name) {
  auto name = [&](const char* field) {
    return field_name ? field_name(field) : std::string(field);
  };
  auto bad = [&](const char* field, auto value, const char* rule) {
    return absl::InvalidArgumentError(
        absl::StrCat(name(field), " must be ", rule, ", got ", value));
  };
  if (!(params.temperature >= 0.0f) || !std::isfinite(params.temperature)) {
    return bad("temperature", params.temperature, ">= 0 (0 means greedy)");
  }
  if (params.top_k < 0) return bad("top_k", params.top_k, ">= 0 (0 turns it off)");
  if (!(params.top_p > 0.0f && params.top_p <= 1.0f)) {
    return bad("top_p", params.top_p, "in (0, 1] (1 turns it off)");
  }
  if (!(params.typical_p > 0.0f && params.typical_p <= 1.0f)) {
    return bad("typical_p", params.typical_p, "in (0, 1] (1 turns it off)");
  }
  if (!(params.repetition_penalty > 0.0f) || !std::isfinite(params.repetition_penalty)) {
    return bad("repetition_penalty", params.repetition_penalty, "> 0 (1 turns it off)");
  }
  return absl::OkStatus();
}

void ApplyRepetitionPenalty(absl::Span<float> logits, absl::Span<const int32_t> context,
                            float penalty) {
  if (penalty == 1.0f) return;
  // Each distinct token once, as HF's gather/scatter over the sequence does.
  absl::flat_hash_set<int32_t> seen;
  for (int32_t id : context) {
    if (id < 0 || id >= static_cast<int32_t>(logits.size()) || !seen.insert(id).second) continue;
    float& v = logits[id];
    v = v < 0.0f ? v * penalty : v / penalty;
  }
}

void ApplyTemperature(absl::Span<float> logits, float temperature) {
  if (temperature == 1.0f) return;
  for (float& v : logits) v /= temperature;
}

void ApplyTopK(absl::Span<float> logits, int32_t k) {
  if (k <= 0 || k >= static_cast<int32_t>(logits.size())) return;
  std::vector<float> sorted(logits.begin(), logits.end());
  std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<float>());
  const float threshold = sorted[k - 1];
  for (float& v : logits) {
    if (v < threshold) v = kMinusInf;
  }
}

std::vector<double> Softmax(absl::Span<const float> logits) {
  std::vector<double> p(logits.size(), 0.0);
  const float max = *std::max_element(logits.begin(), logits.end());
  if (max == kMinusInf) return p;
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    p[i] = logits[i] == kMinusInf ? 0.0 : std::exp(static_cast<double>(logits[i]) - max);
    sum += p[i];
  }
  for (double& v : p) v /= sum;
  return p;
}

void ApplyTopP(absl::Span<float> logits, float top_p) {
  if (top_p >= 1.0f) return;
  const std::vector<double> p = Softmax(logits);
  const std::vector<int32_t> order = IdsByIncreasingLogit(logits);
  double cumulative = 0;
  // The last (most likely) token is never removed.
  for (size_t i = 0; i + 1 < order.size(); ++i) {
    cumulative += p[order[i]];
    if (cumulative <= 1.0 - static_cast<double>(top_p)) logits[order[i]] = kMinusInf;
  }
}

void ApplyTypicalP(absl::Span<float> logits, float typical_p) {
  if (typical_p >= 1.0f) return;
  const std::vector<double> p = Softmax(logits);
  double entropy = 0;
  for (double v : p) {
    if (v > 0) entropy -= v * std::log(v);
  }
  // |-log p - H|: how far each token's information is from the expected one.
  std::vector<double> distance(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    distance[i] =
        p[i] > 0 ? std::fabs(-std::log(p[i]) - entropy) : std::numeric_limits<double>::infinity();
  }
  std::vector<int32_t> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return distance[a] < distance[b]; });
  // HF: last_ind = number of prefix sums below the mass, i.e. keep the
  // tokens up to and including the first one whose prefix sum reaches it.
  double cumulative = 0;
  size_t keep = 0;
  while (keep < order.size()) {
    cumulative += p[order[keep]];
    ++keep;
    if (!(cumulative < typical_p)) break;
  }
  for (size_t i = keep; i < order.size(); ++i) logits[order[i]] = kMinusInf;
}

int32_t ArgMaxOf(absl::Span<const float> values) {
  return static_cast<int32_t>(std::max_element(values.begin(), values.end()) - values.begin());
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

double Sampler::DrawUniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

void Sampler::Process(absl::Span<const float> logits, absl::Span<const int32_t> context,
                      int32_t banned_token) {
  scratch_.assign(logits.begin(), logits.end());
  absl::Span<float> row(scratch_);
  ApplyRepetitionPenalty(row, context, params_.repetition_penalty);
  if (banned_token >= 0 && banned_token < static_cast<int32_t>(row.size())) {
    row[banned_token] = kMinusInf;
  }
  if (!sampling()) return;
  ApplyTemperature(row, params_.temperature);
  ApplyTopK(row, params_.top_k);
  ApplyTopP(row, params_.top_p);
  ApplyTypicalP(row, params_.typical_p);
}

std::vector<double> Sampler::Distribution(absl::Span<const float> logits,
                                          absl::Span<const int32_t> context, int32_t banned_token) {
  Process(logits, context, banned_token);
  if (sampling()) return Softmax(scratch_);
  std::vector<double> p(scratch_.size(), 0.0);
  p[ArgMaxOf(scratch_)] = 1.0;
  return p;
}

ChosenToken Sampler::Choose(absl::Span<const float> logits, absl::Span<const int32_t> context,
                            int32_t banned_token) {
  Process(logits, context, banned_token);
  const std::vector<double> p = Softmax(scratch_);
  if (!sampling()) {
    const int32_t id = ArgMaxOf(scratch_);
    return {id, static_cast<float>(std::log(p[id]))};
  }
  const int32_t id = InverseCdf(p, DrawUniform());
  return {id, static_cast<float>(std::log(p[id]))};
}

int32_t InverseCdf(const std::vector<double>& p, double u) {
  double cumulative = 0;
  int32_t last_possible = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) continue;
    last_possible = static_cast<int32_t>(i);
    cumulative += p[i];
    if (u < cumulative) break;
  }
  // Past the loop without a break: rounding left the sum a hair below 1
  // and u above it, and the last possible token is the draw.
  return last_possible;
}

}  // namespace bloom
