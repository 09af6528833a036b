// The engine with steps in flight (executor.max_steps_in_flight() > 1, a
// pipeline's micro-batches; engine.h says how): beginning steps over
// sequences in none, and finishing the oldest.
#include "runtime/serve/engine.h"
#include "runtime/serve/engine_types.h"
#include "runtime/support/status_macros.h"

namespace bloom {

using engine_internal::CeilDiv;
using engine_internal::CheckTokenCount;

// ---- Steps in flight (max_steps_in_flight() > 1).

absl::Status Engine::BeginSteps() {
  bool after_preemption = false;
  while (static_cast<int32_t>(in_flight_.size()) < max_in_flight_) {
    StepPlan step;
    if (PackStep(step, after_preemption, SequencesPerStep())) {
      BLOOM_RETURN_IF_ERROR(BeginPacked(step));
      after_preemption = false;
      continue;
    }
    // What could not be placed waits for the steps in flight: they may end
    // sequences or free blocks, and a sequence in one is no victim. Only
    // with none in flight is preemption (or its error) the answer, as for
    // one step at a time.
    if (!in_flight_.empty()) return absl::OkStatus();
    BLOOM_RETURN_IF_ERROR(Preempt());
    after_preemption = true;
  }
  return absl::OkStatus();
}

int32_t Engine::SequencesPerStep() const {
  int32_t ready = 0;
  for (const Sequence* s : running_) ready += s->in_flight ? 0 : 1;
  const int32_t free_slots =
      plan_.limits()->max_sequences() - static_cast<int32_t>(running_.size());
  for (size_t i = 0; i < waiting_.size() && static_cast<int32_t>(i) < free_slots; ++i) {
    if (!Admissible(*waiting_[i])) break;
    ++ready;
  }
  const int32_t steps_left = max_in_flight_ - static_cast<int32_t>(in_flight_.size());
  return std::max(1, CeilDiv(ready, std::max(1, steps_left)));
}

absl::Status Engine::BeginPacked(StepPlan& step) {
  InFlightStep flight;
  flight.record = PackBatch(step);
  flight.kind = KindOf(step);
  if (flight.kind == StepKind::kChoose) DescribeChoices(step);
  const StepBatch batch{token_ids_, positions_, slots_, logit_rows_};
  const TokenChoices choices{choices_, penalized_ids_};
  flight.begun = Clock::now();
  // BeginStep copies the batch and the choices: the next step reuses them.
  const absl::Status begun = executor_.BeginStep(
      batch, flight.kind, flight.kind == StepKind::kChoose ? &choices : nullptr);
  if (!begun.ok()) {
    for (const Chunk& c : step.chunks) Fail(*c.seq, begun);
    return begun;
  }
  flight.record.greedy_step = flight.kind == StepKind::kGreedy;
  flight.record.device_choice = flight.kind == StepKind::kChoose;
  flight.record.preempted = preempted_since_step_;
  preempted_since_step_ = 0;
  for (const Chunk& c : step.chunks) c.seq->in_flight = true;
  flight.chunks = std::move(step.chunks);
  in_flight_.push_back(std::move(flight));
  return absl::OkStatus();
}

absl::Status Engine::FinishOldest() {
  InFlightStep flight = std::move(in_flight_.front());
  in_flight_.pop_front();
  absl::StatusOr<StepOutcome> outcome = executor_.FinishStep();
  if (!outcome.ok()) {
    // The executor may be unusable now: the later steps' outcomes cannot
    // be trusted either.
    EndInFlight(flight, outcome.status());
    while (!in_flight_.empty()) {
      InFlightStep later = std::move(in_flight_.front());
      in_flight_.pop_front();
      (void)executor_.FinishStep();  // lets go of its slots before they are freed
      EndInFlight(later, outcome.status());
    }
    return outcome.status();
  }
  const size_t rows = static_cast<size_t>(flight.record.logit_rows);
  StepTokens tokens;
  absl::Status valid;
  switch (flight.kind) {
    case StepKind::kLogits:
      valid = outcome->logits.size() == rows * vocab_
                  ? absl::OkStatus()
                  : absl::InternalError(absl::StrCat("the step returned ", outcome->logits.size(),
                                                     " logits for ", rows, " rows of ", vocab_));
      tokens.logits = outcome->logits;
      break;
    case StepKind::kGreedy:
      valid = CheckTokenCount(outcome->ids.size(), rows);
      tokens.argmax = outcome->ids;
      break;
    case StepKind::kChoose:
      valid = CheckTokenCount(outcome->ids.size(), rows);
      if (valid.ok()) valid = CheckTokenCount(outcome->logprobs.size(), rows);
      tokens.chosen = ChosenTokens{outcome->ids, outcome->logprobs};
      break;
  }
  if (!valid.ok()) {
    EndInFlight(flight, valid);  // the executor answered: only this step is lost
    return valid;
  }
  for (const Chunk& c : flight.chunks) {
    c.seq->in_flight = false;
    if (c.seq->cancel_asked) Finish(*c.seq, FinishReason::kCancelled);
  }
  TakeTokens(flight.chunks, tokens);
  flight.record.ms = std::chrono::duration<double, std::milli>(Clock::now() - flight.begun).count();
  if (options_.on_step) options_.on_step(flight.record);
  return absl::OkStatus();
}

void Engine::EndInFlight(const InFlightStep& flight, const absl::Status& error) {
  for (const Chunk& c : flight.chunks) {
    Sequence& s = *c.seq;
    s.in_flight = false;
    if (s.cancel_asked) {
      Finish(s, FinishReason::kCancelled);
    } else {
      Fail(s, error);
    }
  }
}

}  // namespace bloom
