// Greedy generation for one sequence on top of the step function: the
// prompt is prefilled in chunks of at most max_batch_tokens (each chunk
// attends to the earlier ones through the KV cache), then one token per
// step is decoded. Model-agnostic: it only needs logits from the plan.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/exec/executor.h"

namespace bloom {

struct GenerationOptions {
  int32_t max_new_tokens = 16;
  // Keep the logits of every prompt position and every decode step
  // (P + N - 1 rows), for parity checks; otherwise none are kept.
  bool keep_all_logits = false;
  // Stop after generating this token (not included in the output's count
  // beyond itself); -1 never stops early.
  int32_t stop_token_id = -1;
  // Called with each new token as soon as it is chosen (streaming).
  std::function<void(int32_t)> on_token;
};

struct GenerationResult {
  std::vector<int32_t> tokens;  // the generated tokens, prompt excluded
  // With keep_all_logits: rows × vocab, row i predicting token i+1 of
  // prompt + tokens.
  std::vector<float> logits;
  int64_t logit_rows = 0;
};

// Index of the largest value; the first one on ties, as torch.argmax does.
int32_t ArgMax(absl::Span<const float> values);

absl::StatusOr<GenerationResult> GenerateGreedy(StepExecutor& executor,
                                                absl::Span<const int32_t> prompt,
                                                const GenerationOptions& options);

}  // namespace bloom
