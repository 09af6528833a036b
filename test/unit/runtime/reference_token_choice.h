// A reference for the device token choice (runtime/exec/token_choice.h)
// in the engine's tests: the host sampler's settings a RowChoice carries,
// and each row's token chosen from its RowChoice alone.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "runtime/exec/executor.h"
#include "runtime/exec/token_choice.h"
#include "runtime/serve/sampler.h"

namespace bloom::testing {

// The sampling settings a row's choice was described from.
inline SamplingParams ParamsOf(const RowChoice& c) {
  SamplingParams p;
  p.do_sample = c.sample;
  p.temperature = c.temperature;
  p.top_k = c.top_k;
  p.top_p = c.top_p;
  p.typical_p = c.typical_p;
  p.repetition_penalty = c.repetition_penalty;
  return p;
}

// A reference device choice: each row's token from its RowChoice alone,
// over the row's penalized ids: a greedy row as the host sampler chooses
// it, a sampled one by an inverse-CDF draw with the row's uniform from the
// host sampler's distribution for those settings (what the CUDA kernel
// does); with the host's log-probabilities. `logits` holds
// choices.rows.size() rows of `vocab`.
inline StepOutcome ChooseRows(absl::Span<const float> logits, int64_t vocab,
                              const TokenChoices& choices) {
  StepOutcome chosen;
  for (size_t r = 0; r < choices.rows.size(); ++r) {
    const RowChoice& c = choices.rows[r];
    const absl::Span<const float> row = logits.subspan(r * vocab, vocab);
    const absl::Span<const int32_t> penalized =
        choices.penalized_ids.subspan(c.penalty_begin, c.penalty_count);
    Sampler sampler(ParamsOf(c));
    ChosenToken token;
    if (c.sample) {
      const std::vector<double> dist = sampler.Distribution(row, penalized, c.banned_token);
      token.id = InverseCdf(dist, c.uniform);
      token.logprob = static_cast<float>(std::log(dist[token.id]));
    } else {
      token = sampler.Choose(row, penalized, c.banned_token);  // greedy: draws nothing
    }
    chosen.ids.push_back(token.id);
    chosen.logprobs.push_back(token.logprob);
  }
  return chosen;
}

}  // namespace bloom::testing
