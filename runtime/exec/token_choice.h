// Choosing tokens where the logits are: what a backend needs to pick each
// logit row's next token on its own device (the CPU sampler's processors
// and warpers, runtime/serve/sampler.h), so that a step returns R token ids
// and their log-probabilities instead of R × vocab logits. The random draw
// stays with the request on the host: each sampled row carries the uniform
// the request's own generator drew, so a request's tokens depend on its
// seed alone, whichever backend (or batch) chooses them.
#pragma once

#include <cstdint>

#include "absl/types/span.h"

namespace bloom {

// How one logit row's token is chosen.
struct RowChoice {
  bool sample = false;  // false: the argmax after the penalty and the ban
  float temperature = 1.0f;
  int32_t top_k = 0;
  float top_p = 1.0f;
  float typical_p = 1.0f;
  float repetition_penalty = 1.0f;
  int32_t banned_token = -1;  // -1: none
  double uniform = 0;         // in [0, 1): the request's draw, when sampling
  // The distinct token ids of the row's context (prompt and generated), for
  // the repetition penalty: TokenChoices::penalized_ids[penalty_begin ..
  // penalty_begin + penalty_count).
  int32_t penalty_begin = 0;
  int32_t penalty_count = 0;
};

struct TokenChoices {
  absl::Span<const RowChoice> rows;  // one per logit row of the step
  absl::Span<const int32_t> penalized_ids;
};

// What a step chose: R ids and their log-probabilities (under the final
// distribution a sampled token was drawn from; under the softmax of the
// penalised row for a greedy one, as TGI reports them). Valid until the
// executor's next step.
struct ChosenTokens {
  absl::Span<const int32_t> ids;
  absl::Span<const float> logprobs;
};

}  // namespace bloom
