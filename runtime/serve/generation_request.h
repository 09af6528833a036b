// What a front end asks of the engine (runtime/serve/engine.h) and what it
// gets back: one request's prompt and generation settings, its outcome
// (tokens, why it ended, its timings), and the check of a request against a
// plan's limits that every entry point makes before a request runs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "runtime/plan/plan_generated.h"
#include "runtime/serve/sampler.h"

namespace bloom {

struct GenerationRequest {
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  int32_t max_new_tokens = 16;
  // The end-of-sequence token cannot be chosen before this many tokens.
  int32_t min_new_tokens = 0;
  // Generation ends after this token is generated; -1: never.
  int32_t eos_token_id = -1;
  // Keep the logits of every position: P + generated - 1 rows, row i
  // predicting token i + 1 of prompt + generated (for --dump-logits).
  bool keep_all_logits = false;
  // Called with each generated token as soon as it is chosen (on the
  // engine's thread, before the request's RequestSink sees it); returning
  // true ends the request (a stop string was seen). May be empty.
  std::function<bool(int32_t token)> on_token;
};

// kCancelled: Engine::Cancel ended the request before it finished.
enum class FinishReason { kLength, kEos, kStop, kCancelled };
// "length", "eos", "stop" or "cancelled".
const char* FinishReasonName(FinishReason reason);

struct GenerationOutcome {
  std::vector<int32_t> tokens;  // generated, prompt excluded, eos included
  // Each token's log-probability (ChosenToken::logprob); NaN for a token
  // the device argmax chose (EngineOptions::greedy_step computes none).
  std::vector<float> logprobs;
  FinishReason finish_reason = FinishReason::kLength;
  std::vector<float> logits;  // with keep_all_logits: logit_rows × vocab
  int64_t logit_rows = 0;
  // From the request's submission to its first admission (its first step),
  // to its first generated token, and to its end. ttft_ms stays 0 when no
  // token was generated (a request cancelled in its prefill).
  double queue_ms = 0;
  double ttft_ms = 0;
  double total_ms = 0;
  // Times the request was preempted (its KV blocks freed, its context
  // recomputed later).
  int32_t preemptions = 0;
};

// Checks one request against the plan's limits (non-empty prompt, ids in
// the vocabulary, prompt + max_new_tokens - 1 <= max_seq_len, valid
// sampling settings); `label` prefixes the one-line errors.
absl::Status ValidateRequest(const plan::Plan& plan, int64_t vocab_size,
                             const GenerationRequest& request, const std::string& label);

}  // namespace bloom
