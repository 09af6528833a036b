// Choosing the next token from one row of logits, as Hugging Face
// transformers' generate() does: first the logits processors that apply in
// greedy and sampling modes alike (repetition penalty, then suppression of
// the end-of-sequence token until a minimum length), then, when sampling,
// the warpers in HF's order (temperature, top-k, top-p, typical-p), a
// softmax and one draw. Each transform is a free function on a mutable row
// so that tests can check it against hand-computed distributions; filtered
// tokens get -inf, as HF's filter_value.
//
// The draw uses the request's own generator, seeded per request, so a
// request's output depends only on its prompt, its settings and its seed,
// never on which other requests share its batch. Draws cannot match
// PyTorch's multinomial sample for sample (a different generator).
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace bloom {

struct SamplingParams {
  // false: greedy (argmax after the processors); the warpers are unused.
  bool do_sample = false;
  float temperature = 1.0f;         // > 0 when sampling; 0 means greedy
  int32_t top_k = 0;                // 0: off
  float top_p = 1.0f;               // (0, 1]; 1: off
  float typical_p = 1.0f;           // (0, 1]; 1: off
  float repetition_penalty = 1.0f;  // > 0; 1: off
  uint64_t seed = 0;
};

// Checks the ranges above. `field_name` maps a field ("top_p") to how the
// caller spells it (a flag "--top-p" or a JSON key), for the one-line error.
absl::Status ValidateSamplingParams(
    const SamplingParams& params,
    const std::function<std::string(const char* field)>& field_name = nullptr);

// HF's RepetitionPenaltyLogitsProcessor: for every distinct token of
// `context` (prompt and generated so far), a positive logit is divided by
// `penalty` and a negative one multiplied by it.
void ApplyRepetitionPenalty(absl::Span<float> logits, absl::Span<const int32_t> context,
                            float penalty);
// logits / temperature (temperature > 0).
void ApplyTemperature(absl::Span<float> logits, float temperature);
// HF's TopKLogitsWarper: every logit below the k-th largest becomes -inf
// (so ties at the threshold are all kept). k <= 0 or k >= size: unchanged.
void ApplyTopK(absl::Span<float> logits, int32_t k);
// HF's TopPLogitsWarper (nucleus): with tokens in increasing order of
// probability, removes each whose cumulative probability (itself and all
// less likely ones) is <= 1 - top_p; the most likely token always stays.
// In other words a token stays when the mass strictly above it is < top_p.
void ApplyTopP(absl::Span<float> logits, float top_p);
// Locally typical filtering (HF's TypicalLogitsWarper): orders tokens by
// |-log p - H| (H the entropy), and keeps the shortest prefix of that order
// whose mass reaches typical_p (at least one token).
void ApplyTypicalP(absl::Span<float> logits, float typical_p);
// softmax in double; -inf entries get probability 0.
std::vector<double> Softmax(absl::Span<const float> logits);

// The draw for uniform `u` in [0, 1) from probabilities `p`: the first
// token (in id order) whose running mass exceeds u, or the last possible
// one when rounding leaves the total a hair below u.
int32_t InverseCdf(const std::vector<double>& p, double u);

// Index of the largest value; the first on ties, as torch.argmax.
int32_t ArgMaxOf(absl::Span<const float> values);

// A chosen token and its log-probability: under the distribution it was
// drawn from when sampling (after every processor and warper), under the
// softmax of the processed row when greedy, as TGI reports logprobs.
struct ChosenToken {
  int32_t id = 0;
  float logprob = 0;
};

// One request's token chooser; it holds the request's random generator.
class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // The next token after `context`, from one row of `logits`. When
  // `banned_token` >= 0, that token cannot be chosen (min-length).
  ChosenToken Choose(absl::Span<const float> logits, absl::Span<const int32_t> context,
                     int32_t banned_token);

  // Whether a choice draws from a distribution (else it is an argmax).
  bool sampling() const { return params_.do_sample && params_.temperature > 0.0f; }
  const SamplingParams& params() const { return params_; }
  // The next draw of the request's generator: uniform in [0, 1) from 53
  // random bits, independent of the standard library's distribution
  // implementations, so seeds reproduce everywhere. Choose draws exactly
  // one per sampled token; a device that chooses the token instead (the
  // engine's device choice) takes this same draw, so the request's tokens
  // follow its seed on every backend.
  double DrawUniform();

  // Whether Choose is a bare argmax of the logits, given no banned token:
  // a backend's on-device argmax can then stand in for it.
  bool plain_greedy() const { return !sampling() && params_.repetition_penalty == 1.0f; }

  // The distribution Choose draws from (after every processor and warper),
  // for tests; greedy mode puts all mass on the argmax.
  std::vector<double> Distribution(absl::Span<const float> logits,
                                   absl::Span<const int32_t> context, int32_t banned_token);

 private:
  // Runs the processors (and, when sampling, the warpers) on scratch_.
  void Process(absl::Span<const float> logits, absl::Span<const int32_t> context,
               int32_t banned_token);

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<float> scratch_;
};

}  // namespace bloom
