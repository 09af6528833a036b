#include "runtime/serve/engine.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/serve/engine_types.h"
#include "runtime/serve/sampler.h"
#include "runtime/support/status_macros.h"

namespace bloom {

using engine_internal::CeilDiv;
using engine_internal::CheckTokenCount;

Engine::Engine(StepExecutor& executor, EngineOptions options)
    : executor_(executor),
      options_(std::move(options)),
      plan_(executor.plan()),
      vocab_(executor.vocab_size()),
      cache_(executor.kv_cache()),
      max_in_flight_(std::max(1, options_.max_steps_in_flight > 0
                                     ? std::min(options_.max_steps_in_flight,
                                                executor.max_steps_in_flight())
                                     : executor.max_steps_in_flight())),
      static_batching_(options_.admission == EngineOptions::Admission::kStaticBatch),
      static_batch_size_(static_cast<size_t>(
          options_.static_batch_size > 0
              ? std::min(options_.static_batch_size, plan_.limits()->max_sequences())
              : plan_.limits()->max_sequences())),
      static_batch_timeout_(std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(
          std::max(options_.static_batch_timeout, absl::ZeroDuration())))) {
  Publish();
}

Engine::~Engine() {
  // A step in flight may still use its sequences' slots: the executor lets
  // go of it before any slot is given back. Its outcome is not taken (its
  // requests end below either way).
  while (!in_flight_.empty()) {
    (void)executor_.FinishStep();
    for (const Chunk& c : in_flight_.front().chunks) c.seq->in_flight = false;
    in_flight_.pop_front();
  }
  TakeInbox();
  const absl::Status stopped =
      absl::UnavailableError("the engine stopped before the request finished");
  // Oldest first, so that sinks hear in the order requests were submitted.
  std::vector<Sequence*> unfinished;
  for (auto& [id, s] : live_) {
    if (!s->ended) unfinished.push_back(s.get());
  }
  std::sort(unfinished.begin(), unfinished.end(),
            [](const Sequence* a, const Sequence* b) { return a->id < b->id; });
  for (Sequence* s : unfinished) {
    // Cancelled while its step was in flight: what it asked for.
    if (s->cancel_asked) {
      Finish(*s, FinishReason::kCancelled);
    } else {
      Fail(*s, stopped);
    }
  }
}

absl::StatusOr<RequestId> Engine::Submit(GenerationRequest request,
                                         std::shared_ptr<RequestSink> sink) {
  if (sink == nullptr) return absl::InvalidArgumentError("request: the sink is null");
  BLOOM_RETURN_IF_ERROR(ValidateRequest(plan_, vocab_, request, "request"));
  std::lock_guard<std::mutex> lock(mu_);
  const int32_t waiting = published_.waiting + static_cast<int32_t>(inbox_.size());
  if (options_.max_waiting > 0 && waiting >= options_.max_waiting) {
    return absl::ResourceExhaustedError(
        absl::StrCat("request: the queue is full (", waiting, " requests waiting)"));
  }
  const RequestId id = next_id_++;
  inbox_.push_back(std::make_unique<Sequence>(id, std::move(request), std::move(sink)));
  work_arrived_.notify_all();
  return id;
}

void Engine::Cancel(RequestId id) {
  std::lock_guard<std::mutex> lock(mu_);
  cancels_.push_back(id);
  work_arrived_.notify_all();
}

bool Engine::HasWorkLocked() const {
  if (!inbox_.empty() || !cancels_.empty() || published_.running > 0) return true;
  return published_.waiting > 0 && (!static_batching_ || Clock::now() >= admission_due_);
}

bool Engine::HasWork() const {
  std::lock_guard<std::mutex> lock(mu_);
  return HasWorkLocked();
}

bool Engine::WaitForWork(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  // Beyond a year is no limit (and keeps the deadline from overflowing).
  const Clock::time_point until =
      timeout > absl::Hours(24 * 365)
          ? Clock::time_point::max()
          : Clock::now() + std::chrono::duration_cast<Clock::duration>(
                               absl::ToChronoNanoseconds(std::max(timeout, absl::ZeroDuration())));
  while (!HasWorkLocked()) {
    const Clock::time_point wake = std::min(until, admission_due_);
    if (wake == Clock::time_point::max()) {
      work_arrived_.wait(lock);
    } else {
      if (Clock::now() >= until) return false;
      work_arrived_.wait_until(lock, wake);
    }
  }
  return true;
}

EngineCounters Engine::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  EngineCounters c = published_;
  c.waiting += static_cast<int32_t>(inbox_.size());
  return c;
}

void Engine::Publish() {
  std::lock_guard<std::mutex> lock(mu_);
  published_.running = static_cast<int32_t>(running_.size());
  published_.waiting = static_cast<int32_t>(waiting_.size());
  published_.free_kv_blocks = cache_.FreeBlocks();
  published_.kv_blocks = cache_.shape().num_blocks;
  admission_due_ = AdmissionDue();
}

// ---- Admission.

bool Engine::Admissible(const Sequence& s) const { return !static_batching_ || s.in_batch; }

Engine::Clock::time_point Engine::AdmissionDue() const {
  if (waiting_.empty()) return Clock::time_point::max();
  // Members of a batch sit at the front of the queue (formed from the
  // front; preempted and unplaced ones go back to the front), so when the
  // front is not one, no batch member waits and the front is the oldest.
  if (!static_batching_ || waiting_.front()->in_batch || waiting_.size() >= static_batch_size_) {
    return Clock::time_point::min();
  }
  return waiting_.front()->submitted + static_batch_timeout_;
}

void Engine::FormStaticBatch() {
  if (!running_.empty() || waiting_.empty() || waiting_.front()->in_batch) return;
  if (waiting_.size() < static_batch_size_ && Clock::now() < AdmissionDue()) return;
  const size_t members = std::min(static_batch_size_, waiting_.size());
  for (size_t i = 0; i < members; ++i) waiting_[i]->in_batch = true;
}

void Engine::TakeInbox() {
  std::vector<std::unique_ptr<Sequence>> arrived;
  std::vector<RequestId> cancels;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // They count as waiting from here until the step publishes its counts.
    published_.waiting += static_cast<int32_t>(inbox_.size());
    arrived.swap(inbox_);
    cancels.swap(cancels_);
  }
  for (std::unique_ptr<Sequence>& s : arrived) {
    waiting_.push_back(s.get());
    const RequestId id = s->id;
    live_.emplace(id, std::move(s));
  }
  for (RequestId id : cancels) CancelNow(id);
  DropEnded();
}

void Engine::CancelNow(RequestId id) {
  auto it = live_.find(id);
  if (it == live_.end() || it->second->ended) return;
  Sequence& s = *it->second;
  if (s.in_flight) {
    // Its step may still write the slot's KV blocks: the slot is given
    // back when that step finishes (FinishOldest).
    s.cancel_asked = true;
    return;
  }
  Finish(s, FinishReason::kCancelled);
}

absl::StatusOr<bool> Engine::StepOnce() {
  TakeInbox();
  if (static_batching_) FormStaticBatch();
  if (running_.empty() && (waiting_.empty() || !Admissible(*waiting_.front()))) {
    Publish();
    return false;
  }
  if (max_in_flight_ > 1) {
    absl::Status status = BeginSteps();
    if (status.ok() && !in_flight_.empty()) status = FinishOldest();
    DropEnded();
    Publish();
    if (!status.ok()) return status;
    return true;
  }
  StepPlan step;
  bool after_preemption = false;
  while (!PackStep(step, after_preemption)) {
    if (absl::Status preempted = Preempt(); !preempted.ok()) {
      DropEnded();
      Publish();
      return preempted;
    }
    after_preemption = true;
  }
  absl::Status ran = RunStep(step);
  DropEnded();
  Publish();
  if (!ran.ok()) return ran;
  return true;
}

// ---- Packing.

bool Engine::PackStep(StepPlan& step, bool after_preemption, int32_t max_chunks) {
  const auto* limits = plan_.limits();
  step.chunks.clear();
  step.tokens_left = limits->max_batch_tokens();
  step.rows_left = limits->max_logit_rows();
  step.chunks_left = max_chunks;
  const bool admissible = !waiting_.empty() && Admissible(*waiting_.front()) &&
                          static_cast<int32_t>(running_.size()) < limits->max_sequences();
  bool prefilling = admissible;
  for (const Sequence* s : running_) prefilling = prefilling || s->prefilling();
  // Right after a preemption, decode first under every policy: the blocks
  // just freed go to the running sequences' next tokens before the
  // preempted one (at the head of the queue) can take them back, so every
  // preemption buys the others progress. Prefill-first otherwise could
  // readmit it into the same blocks and preempt it again, forever.
  const bool decode_first =
      options_.policy == EngineOptions::Policy::kMixed || !prefilling || after_preemption;
  PlaceRunning(decode_first, step);
  Admit(step);
  // Under kPrefillFirst, decode when no prompt could be placed.
  if (step.chunks.empty() && !decode_first) {
    PlaceRunning(true, step);
    Admit(step);
  }
  return !step.chunks.empty();
}

// Decode tokens (when `decode`), then chunks of prompts being fed.
void Engine::PlaceRunning(bool decode, StepPlan& step) {
  if (decode) {
    for (Sequence* s : running_) {
      if (!s->prefilling()) Place(*s, 1, step);
    }
  }
  for (Sequence* s : running_) {
    if (s->prefilling()) Place(*s, s->pending(), step);
  }
}

// Newly admitted sequences, in the room left; one that gets no room is not
// admitted yet (so a preempted one does not take back the blocks it just
// gave up).
void Engine::Admit(StepPlan& step) {
  const int32_t max_sequences = plan_.limits()->max_sequences();
  while (!waiting_.empty() && Admissible(*waiting_.front()) && step.tokens_left > 0 &&
         static_cast<int32_t>(running_.size()) < max_sequences) {
    absl::StatusOr<int32_t> slot = cache_.AddSequence();
    if (!slot.ok()) break;  // a slot held outside this engine
    Sequence* s = waiting_.front();
    waiting_.pop_front();
    s->slot = *slot;
    running_.push_back(s);
    if (!Place(*s, s->pending(), step)) {
      cache_.RemoveSequence(s->slot);
      s->slot = -1;
      running_.pop_back();
      waiting_.push_front(s);
      break;
    }
    if (!s->admitted) {
      s->admitted = true;
      s->outcome.queue_ms = s->MsSinceSubmitted();
    }
  }
}

// Adds the longest chunk of at most `max_count` tokens of `s` that the
// step's token and row budgets and the block pool allow, reserving its
// positions; false when not even one token fits.
bool Engine::Place(Sequence& s, int32_t max_count, StepPlan& step) {
  if (s.in_flight) return false;  // its reservation is frozen until its step finishes
  if (step.chunks_left == 0) return false;
  const int32_t block_size = cache_.shape().block_size;
  // The most positions the pool can still back for this slot.
  const int32_t held = CeilDiv(cache_.ReservedPositions(s.slot), block_size);
  const int32_t room = (held + cache_.FreeBlocks()) * block_size - s.fed;
  int32_t count = std::min({max_count, step.tokens_left, room});
  while (count > 0 && s.RowsFor(count) > step.rows_left) --count;
  if (count <= 0 || !cache_.Reserve(s.slot, s.fed + count).ok()) return false;
  const int32_t rows = s.RowsFor(count);
  step.chunks.push_back({&s, count, plan_.limits()->max_logit_rows() - step.rows_left, rows});
  step.tokens_left -= count;
  step.rows_left -= rows;
  --step.chunks_left;
  return true;
}

absl::Status Engine::Preempt() {
  // Only with no step in flight (BeginSteps): every running sequence may
  // be the victim, and one alone that cannot grow really cannot run.
  if (running_.empty()) {
    // Nothing runs and nothing can be admitted: no waiting request can run.
    const absl::Status error = absl::ResourceExhaustedError(
        "no free KV-cache sequence slot: every slot is held outside this scheduler");
    for (Sequence* s : waiting_) Fail(*s, error);
    return error;
  }
  const int32_t block_size = cache_.shape().block_size;
  if (running_.size() == 1) {
    const absl::Status error = absl::ResourceExhaustedError(
        absl::StrCat("the KV cache (", cache_.shape().num_blocks, " blocks of ", block_size,
                     " positions) cannot hold the next token of a single sequence"));
    Fail(*running_.front(), error);
    return error;
  }
  Sequence* victim = running_.back();
  running_.pop_back();
  cache_.RemoveSequence(victim->slot);
  victim->slot = -1;
  victim->fed = 0;
  ++victim->outcome.preemptions;
  waiting_.push_front(victim);
  ++preempted_since_step_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++published_.preemptions;
  }
  return absl::OkStatus();
}

// ---- Running a step.

bool Engine::ArgmaxServes(const Chunk& c) const {
  const Sequence& s = *c.seq;
  if (s.request.keep_all_logits) return false;
  return !s.Samples(c.count) || (s.sampler.plain_greedy() && s.BannedToken() < 0);
}

StepRecord Engine::PackBatch(const StepPlan& step) {
  token_ids_.clear();
  positions_.clear();
  slots_.clear();
  logit_rows_.clear();
  StepRecord record;
  for (const Chunk& c : step.chunks) {
    const Sequence& s = *c.seq;
    for (int32_t i = 0; i < c.count; ++i) {
      const int32_t position = s.fed + i;
      if (s.request.keep_all_logits ? position >= s.rows_kept : i == c.count - 1 && c.rows == 1) {
        logit_rows_.push_back(static_cast<int32_t>(token_ids_.size()));
      }
      token_ids_.push_back(s.context[position]);
      positions_.push_back(position);
      slots_.push_back(s.slot);
    }
    if (!s.prefilling()) ++record.decode_tokens;
  }
  record.tokens = static_cast<int32_t>(token_ids_.size());
  record.logit_rows = static_cast<int32_t>(logit_rows_.size());
  record.sequences = static_cast<int32_t>(step.chunks.size());
  return record;
}

StepKind Engine::KindOf(const StepPlan& step) const {
  const bool keeps_logits = std::any_of(step.chunks.begin(), step.chunks.end(), [](const Chunk& c) {
    return c.seq->request.keep_all_logits;
  });
  if (options_.device_choice && !keeps_logits) return StepKind::kChoose;
  if (options_.greedy_step && std::all_of(step.chunks.begin(), step.chunks.end(),
                                          [&](const Chunk& c) { return ArgmaxServes(c); })) {
    return StepKind::kGreedy;
  }
  return StepKind::kLogits;
}

absl::Status Engine::RunStep(const StepPlan& step) {
  StepRecord record = PackBatch(step);
  const StepKind kind = KindOf(step);
  const bool device_choice = kind == StepKind::kChoose;
  const bool greedy = kind == StepKind::kGreedy;
  if (device_choice) DescribeChoices(step);

  const Clock::time_point step_start = Clock::now();
  const StepBatch batch{token_ids_, positions_, slots_, logit_rows_};
  StepTokens tokens;
  absl::Status ran;
  const size_t rows = logit_rows_.size();
  if (device_choice) {
    absl::StatusOr<ChosenTokens> chosen =
        options_.device_choice(batch, TokenChoices{choices_, penalized_ids_});
    ran = chosen.ok() ? CheckTokenCount(chosen->ids.size(), rows) : chosen.status();
    if (ran.ok()) ran = CheckTokenCount(chosen->logprobs.size(), rows);
    if (ran.ok()) tokens.chosen = *chosen;
  } else if (greedy) {
    absl::StatusOr<absl::Span<const int32_t>> ids = options_.greedy_step(batch);
    ran = ids.ok() ? CheckTokenCount(ids->size(), rows) : ids.status();
    if (ran.ok()) tokens.argmax = *ids;
  } else {
    ran = executor_.Step(batch);
    if (ran.ok()) tokens.logits = executor_.logits();
  }
  if (!ran.ok()) {
    // The step's sequences have lost their place in the KV cache; the
    // others did not take part and carry on.
    for (const Chunk& c : step.chunks) Fail(*c.seq, ran);
    return ran;
  }
  record.greedy_step = greedy;
  record.device_choice = device_choice;
  TakeTokens(step.chunks, tokens);
  record.ms = std::chrono::duration<double, std::milli>(Clock::now() - step_start).count();
  record.preempted = preempted_since_step_;
  preempted_since_step_ = 0;
  if (options_.on_step) options_.on_step(record);
  return absl::OkStatus();
}

void Engine::TakeTokens(absl::Span<const Chunk> chunks, const StepTokens& tokens) {
  for (const Chunk& c : chunks) {
    Sequence& s = *c.seq;
    if (s.ended) continue;  // cancelled while its step was in flight
    const bool samples = s.Samples(c.count);
    s.fed += c.count;
    TakeLogits(c, tokens.logits);
    if (samples) Emit(s, ChooseToken(s, c.first_row + c.rows - 1, tokens));
  }
}

// keep_all_logits: appends the chunk's rows (c.fed already advanced).
void Engine::TakeLogits(const Chunk& c, absl::Span<const float> logits) {
  Sequence& s = *c.seq;
  if (!s.request.keep_all_logits || c.rows == 0) return;
  s.outcome.logits.insert(s.outcome.logits.end(), logits.begin() + c.first_row * vocab_,
                          logits.begin() + (c.first_row + c.rows) * vocab_);
  s.outcome.logit_rows += c.rows;
  s.rows_kept = s.fed;
}

void Engine::DescribeChoices(const StepPlan& step) {
  choices_.clear();
  penalized_ids_.clear();
  for (const Chunk& c : step.chunks) {
    if (c.rows == 0) continue;  // without kept logits a chunk has a row iff it samples
    Sequence& s = *c.seq;
    const SamplingParams& p = s.sampler.params();
    RowChoice choice;
    choice.sample = s.sampler.sampling();
    choice.temperature = p.temperature;
    choice.top_k = p.top_k;
    choice.top_p = p.top_p;
    choice.typical_p = p.typical_p;
    choice.repetition_penalty = p.repetition_penalty;
    choice.banned_token = s.BannedToken();
    // The one draw the host sampler would take for this token.
    if (choice.sample) choice.uniform = s.sampler.DrawUniform();
    choice.penalty_begin = static_cast<int32_t>(penalized_ids_.size());
    choice.penalty_count = static_cast<int32_t>(s.penalized.size());
    penalized_ids_.insert(penalized_ids_.end(), s.penalized.begin(), s.penalized.end());
    choices_.push_back(choice);
  }
}

ChosenToken Engine::ChooseToken(Sequence& s, int32_t row, const StepTokens& tokens) {
  if (!tokens.chosen.ids.empty()) return {tokens.chosen.ids[row], tokens.chosen.logprobs[row]};
  if (!tokens.argmax.empty()) return {tokens.argmax[row], std::numeric_limits<float>::quiet_NaN()};
  return s.sampler.Choose(tokens.logits.subspan(static_cast<size_t>(row) * vocab_, vocab_),
                          s.context, s.BannedToken());
}

void Engine::Emit(Sequence& s, ChosenToken chosen) {
  const int32_t token = chosen.id;
  s.context.push_back(token);
  s.NotePenalized(token);
  s.outcome.tokens.push_back(token);
  s.outcome.logprobs.push_back(chosen.logprob);
  if (s.generated() == 1) s.outcome.ttft_ms = s.MsSinceSubmitted();
  // Both listeners hear every token, whichever of them asks to stop.
  const bool stop_asked = s.request.on_token && s.request.on_token(token);
  const bool sink_stop = s.sink->OnToken(token, chosen.logprob);
  const int32_t eos = s.request.eos_token_id;
  if (eos >= 0 && token == eos) {
    Finish(s, FinishReason::kEos);
  } else if (stop_asked || sink_stop) {
    Finish(s, FinishReason::kStop);
  } else if (s.generated() == s.request.max_new_tokens) {
    Finish(s, FinishReason::kLength);
  }
}

// ---- Ending requests.

void Engine::Finish(Sequence& s, FinishReason reason) {
  s.outcome.finish_reason = reason;
  s.outcome.total_ms = s.MsSinceSubmitted();
  if (s.slot >= 0) cache_.RemoveSequence(s.slot);
  s.slot = -1;
  s.ended = true;
  s.sink->OnFinish(std::move(s.outcome));
}

void Engine::Fail(Sequence& s, const absl::Status& error) {
  if (s.slot >= 0) cache_.RemoveSequence(s.slot);
  s.slot = -1;
  s.ended = true;
  s.sink->OnFinish(error);
}

void Engine::DropEnded() {
  auto ended = [](const Sequence* s) { return s->ended; };
  running_.erase(std::remove_if(running_.begin(), running_.end(), ended), running_.end());
  waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(), ended), waiting_.end());
  for (auto it = live_.begin(); it != live_.end();) {
    it = it->second->ended ? live_.erase(it) : std::next(it);
  }
}

}  // namespace bloom
