// The engine's own types (engine.h declares them), shared by its two
// source files: engine.cpp (admission, packing, one step at a time,
// emitting, ending requests) and engine_in_flight.cpp (steps in flight).
// Not for any other includer.
#pragma once

#include <algorithm>
#include <chrono>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "runtime/serve/engine.h"
#include "runtime/serve/sampler.h"

namespace bloom {
namespace engine_internal {

inline int32_t CeilDiv(int32_t a, int32_t b) { return (a + b - 1) / b; }

// A device step's answer must have one token per logit row.
inline absl::Status CheckTokenCount(size_t count, size_t rows) {
  if (count == rows) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("the device step returned ", count, " tokens for ", rows, " logit rows"));
}

}  // namespace engine_internal

// One request from submission to its end. context = prompt + generated;
// positions [0, fed) are in the KV cache (of `slot`, when it has one).
struct Engine::Sequence {
  Sequence(RequestId id, GenerationRequest r, std::shared_ptr<RequestSink> sink)
      : id(id),
        request(std::move(r)),
        sink(std::move(sink)),
        sampler(request.sampling),
        context(request.prompt),
        submitted(Clock::now()) {
    for (int32_t token : context) NotePenalized(token);
  }

  // The repetition penalty's distinct context tokens, kept as the context
  // grows, so that a device choice does not rebuild the set every step.
  void NotePenalized(int32_t token) {
    if (request.sampling.repetition_penalty == 1.0f) return;
    if (penalized_seen.insert(token).second) penalized.push_back(token);
  }

  RequestId id;
  GenerationRequest request;
  std::shared_ptr<RequestSink> sink;
  Sampler sampler;
  GenerationOutcome outcome;
  std::vector<int32_t> context;
  std::vector<int32_t> penalized;  // distinct tokens of context, in first-seen order
  absl::flat_hash_set<int32_t> penalized_seen;
  int32_t fed = 0;
  int32_t slot = -1;
  // keep_all_logits: rows of positions below this are already kept (a
  // preempted sequence recomputes them without keeping them twice).
  int32_t rows_kept = 0;
  Clock::time_point submitted;
  bool admitted = false;  // ever: queue_ms is set
  bool in_batch = false;  // kStaticBatch: a member of the batch formed last
  bool ended = false;     // its sink has heard; dropped after this step
  // Steps in flight: in a step begun and not yet finished (its KV
  // reservation is frozen until then), and a cancel taken in meanwhile,
  // applied when that step finishes.
  bool in_flight = false;
  bool cancel_asked = false;

  int32_t pending() const { return static_cast<int32_t>(context.size()) - fed; }
  int32_t generated() const { return static_cast<int32_t>(outcome.tokens.size()); }
  // Still feeding its prompt (or, after preemption, its whole context):
  // its next chunk is not a one-token decode step.
  bool prefilling() const { return generated() == 0 || pending() > 1; }
  // Whether a chunk of `count` tokens from `fed` reaches the end of the
  // context, so that its last row chooses the next token.
  bool Samples(int32_t count) const { return fed + count == static_cast<int32_t>(context.size()); }
  // Logit rows a chunk of `count` tokens from `fed` needs.
  int32_t RowsFor(int32_t count) const {
    if (!request.keep_all_logits) return Samples(count) ? 1 : 0;
    return std::max(0, fed + count - std::max(fed, rows_kept));
  }
  // The end-of-sequence token while min_new_tokens forbids it; else -1.
  int32_t BannedToken() const {
    const int32_t eos = request.eos_token_id;
    return eos >= 0 && generated() < request.min_new_tokens ? eos : -1;
  }
  double MsSinceSubmitted() const {
    return std::chrono::duration<double, std::milli>(Clock::now() - submitted).count();
  }
};

// A planned piece of one step: `count` tokens of `seq` from position
// seq->fed, whose logit rows start at `first_row` of the step's rows.
struct Engine::Chunk {
  Sequence* seq;
  int32_t count;
  int32_t first_row;
  int32_t rows;
};

// One step being packed: its chunks and the room the plan's limits leave.
struct Engine::StepPlan {
  std::vector<Chunk> chunks;
  int32_t tokens_left = 0;
  int32_t rows_left = 0;
  int32_t chunks_left = std::numeric_limits<int32_t>::max();  // sequences it may still take
};

// A step begun (StepExecutor::BeginStep) and not yet finished: its chunks,
// how its outcome is read, and its record but for the time.
struct Engine::InFlightStep {
  std::vector<Chunk> chunks;
  StepKind kind = StepKind::kLogits;
  StepRecord record;
  Clock::time_point begun;
};


}  // namespace bloom
