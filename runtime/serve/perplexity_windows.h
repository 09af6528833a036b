// How a text's tokens are cut into scored windows, as llama.cpp's
// llama-perplexity does it (and models/bloom/debian-small/perplexity.py,
// which makes the transformers golden, spells out the same definition):
//
// - Halves (stride 0): window k is tokens[k*N, (k+1)*N) for
//   k = 0 .. floor(len/N) - 1 (a shorter tail is dropped); the logits at
//   window positions i = N/2 .. N-2 predict token i+1 and are scored.
// - Stride S (1 <= S <= N-1): windows start at 0, S, 2S, ... while
//   start + N <= len; each scores its last S predictions, positions
//   N-1-S .. N-2.
//
// Each window is a sequence of its own (no context from the previous one).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace bloom::serve {

struct PerplexityWindow {
  int64_t start = 0;         // the window's first token in the text
  int32_t first_scored = 0;  // the first position whose logits are scored
};

// Predictions each window scores: N - 1 - N/2 (halves) or S.
int32_t ScoredPerWindow(int32_t ctx, int32_t stride);

// Checks N and S (N >= 2; halves need N >= 3 to score anything; with a
// stride 1 <= S <= N-1); InvalidArgument naming --ctx or --stride.
absl::Status CheckWindowShape(int32_t ctx, int32_t stride);

// How many windows a text of `num_tokens` tokens makes (without listing
// them: a base file's header may claim any count); InvalidArgument when the
// shape is bad or the text holds fewer than N tokens.
absl::StatusOr<int64_t> WindowCount(int64_t num_tokens, int32_t ctx, int32_t stride);

// The windows of a text of `num_tokens` tokens, in order; InvalidArgument
// when the shape is bad or the text holds fewer than N tokens.
absl::StatusOr<std::vector<PerplexityWindow>> PerplexityWindows(int64_t num_tokens, int32_t ctx,
                                                                int32_t stride);

}  // namespace bloom::serve
