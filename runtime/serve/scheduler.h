// Continuous batching over the step function (DESIGN.md, decision 1): many
// sequences run at once, and every step packs, within the plan's limits
// (max_batch_tokens tokens, max_logit_rows logit rows, max_sequences KV
// slots), the one decode token of each running sequence and prompt chunks of
// the sequences being prefilled. New requests are admitted as KV slots free
// up; finished ones give their slot and blocks back at once.
//
// Every sequence is just "tokens to feed": its context (prompt, then each
// generated token) and how many of them are already in the KV cache. A step
// feeds the next chunk of that tail; when a chunk reaches the end of the
// context, its last row's logits choose the next token. Prefill and decode
// are the same thing with different chunk lengths, so a request's tokens do
// not depend on how it was packed with others.
//
// When the KV cache's block pool runs dry (plans may size it below
// max_sequences × max_seq_len), a step that cannot place any token preempts
// the most recently admitted sequence: its blocks are freed and its whole
// context is prefilled again later (recomputation, as vLLM does). Its
// sampler keeps its state, so its output is unchanged.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/exec/executor.h"
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
  // Called with each generated token as soon as it is chosen; returning
  // true ends the request (a stop string was seen). May be empty.
  std::function<bool(int32_t token)> on_token;
};

enum class FinishReason { kLength, kEos, kStop };
// "length", "eos" or "stop".
const char* FinishReasonName(FinishReason reason);

struct GenerationOutcome {
  std::vector<int32_t> tokens;  // generated, prompt excluded, eos included
  FinishReason finish_reason = FinishReason::kLength;
  std::vector<float> logits;  // with keep_all_logits: logit_rows × vocab
  int64_t logit_rows = 0;
  // From the start of Run() to the first generated token / to the last.
  double ttft_ms = 0;
  double total_ms = 0;
};

// What one step did, for benchmarks and tests.
struct StepRecord {
  double ms = 0;              // Step() plus choosing the tokens
  int32_t tokens = 0;         // T
  int32_t decode_tokens = 0;  // one-token steps of sequences past their first token
  int32_t logit_rows = 0;     // R
  int32_t sequences = 0;      // distinct sequences in the step
  int32_t preempted = 0;      // sequences preempted before this step
  bool greedy_step = false;   // ran through SchedulerOptions::greedy_step
};

// A backend's fused "step, then argmax of each logit row on the device"
// (first index on ties, as ArgMaxOf): returns R ids instead of copying
// R × vocab logits to the host. Optional; see SchedulerOptions.
using GreedyStepFn = std::function<absl::StatusOr<absl::Span<const int32_t>>(const StepBatch&)>;

struct SchedulerOptions {
  enum class Policy {
    // Decode tokens first, prompt chunks in the room left (chunked prefill
    // piggybacked on decode steps: steady latency for running sequences).
    kMixed,
    // While any admitted or admissible sequence still has prompt to feed,
    // steps carry only prompt chunks; decode steps follow. --bench uses it
    // so that time-to-first-token and decode steps are separate phases.
    kPrefillFirst,
  };
  Policy policy = Policy::kMixed;
  std::function<void(const StepRecord&)> on_step;
  // When set, used instead of StepExecutor::Step for every step whose
  // chosen tokens are all plain greedy choices (no sampling, no repetition
  // penalty, no banned end-of-sequence token, no kept logits): the tokens
  // are the same, without the logits' round trip to the host.
  GreedyStepFn greedy_step;
};

class Scheduler {
 public:
  explicit Scheduler(StepExecutor& executor, SchedulerOptions options = {});

  // Checks every request against the plan first (non-empty prompt, ids in
  // the vocabulary, prompt + max_new_tokens - 1 <= max_seq_len, valid
  // sampling settings; errors name the request's index), then runs them all
  // to completion. Outcomes are in request order. The KV cache must have no
  // active sequences of others' while this runs; every slot Run takes is
  // given back, also on error.
  absl::StatusOr<std::vector<GenerationOutcome>> Run(std::vector<GenerationRequest> requests);

 private:
  StepExecutor& executor_;
  SchedulerOptions options_;
};

// Checks one request against the plan's limits; `label` prefixes errors.
absl::Status ValidateRequest(const plan::Plan& plan, int64_t vocab_size,
                             const GenerationRequest& request, const std::string& label);

}  // namespace bloom
