// Choosing each logit row's next token on the GPU, as the CPU sampler
// (runtime/serve/sampler.h) does: repetition penalty and a banned token,
// then greedy argmax, or temperature, top-k, top-p and typical-p and one
// draw by inverse CDF in token-id order with a uniform the host drew from
// the request's own generator. A step of sampled requests then copies R
// token ids (and their log-probabilities) to the host, not R × vocab logits.
//
// The filters find their thresholds without sorting: a radix select over
// the logits' (or typicality distances') order-preserving bit patterns,
// eight bits at a time, weighted by count (top-k) or by probability mass
// (top-p, typical-p). Ties at a threshold are all kept (the CPU sampler's
// stable sort could keep only some of them; exact ties between distinct
// logits are the only place the two can differ beyond rounding).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace bloom::cuda {

// How one row's token is chosen. Plain data, copied to the device per step.
struct TokenChoiceRow {
  double uniform = 0;         // the draw in [0, 1) when sampling
  float temperature = 1.0f;   // > 0; sampling only
  float top_p = 1.0f;         // (0, 1]; 1: off
  float typical_p = 1.0f;     // (0, 1]; 1: off
  float repetition_penalty = 1.0f;  // > 0; 1: off
  int32_t top_k = 0;          // 0 (or >= vocab): off
  int32_t banned_token = -1;  // gets -inf first (min-length); -1: none
  // Distinct token ids of the row's context, for the repetition penalty:
  // penalized_ids[penalty_begin .. penalty_begin + penalty_count).
  int32_t penalty_begin = 0;
  int32_t penalty_count = 0;
  int32_t sample = 0;  // 0: greedy (argmax after the penalty and ban)
};

// For r in [0, rows): applies row r's choice to logits[r, 0 .. vocab) IN
// PLACE (the row is scratch afterwards) and writes the token to ids[r] and
// its log-probability to logprobs[r]: under the final distribution it was
// drawn from when sampling (TGI's logprob), under the softmax of the
// penalised row when greedy. NaNs count as -inf; greedy takes the first
// index on ties, as torch.argmax.
cudaError_t LaunchChooseTokens(float* logits, int64_t rows, int64_t vocab,
                               const TokenChoiceRow* choices, const int32_t* penalized_ids,
                               int32_t* ids, float* logprobs, cudaStream_t stream);

}  // namespace bloom::cuda
