// The long-lived continuous-batching engine over the step function
// (DESIGN.md, decision 1). Requests are submitted at any time, from any
// thread, and each StepOnce() on the engine's thread packs, within the
// plan's limits (max_batch_tokens tokens, max_logit_rows logit rows,
// max_sequences KV slots), the one decode token of each running sequence
// and prompt chunks of the sequences being prefilled, runs that step, and
// hands each chosen token to its request's sink. Requests are admitted as
// KV slots free up; finished and cancelled ones give their slot and blocks
// back at once.
//
// Every sequence is just "tokens to feed": its context (prompt, then each
// generated token) and how many of them are already in the KV cache. A step
// feeds the next chunk of that tail; when a chunk reaches the end of the
// context, its last row's logits choose the next token. Prefill and decode
// are the same thing with different chunk lengths, so a request's tokens do
// not depend on how it was packed with others, nor on when it arrived.
//
// When the KV cache's block pool runs dry (plans may size it below
// max_sequences × max_seq_len), a step that cannot place any token preempts
// the most recently admitted sequence: its blocks are freed and its whole
// context is prefilled again later (recomputation, as vLLM does). Its
// sampler keeps its state, so its output is unchanged.
//
// Steps in flight (pipeline parallelism: executor.max_steps_in_flight() =
// M > 1, StepExecutor::BeginStep/FinishStep). Each StepOnce packs and
// begins steps from the sequences in no step in flight, until M are in
// flight or nothing more can be packed, sharing those sequences out so the
// M micro-batches are about equal; then finishes the oldest and hands on
// its tokens. A sequence is in at most one step in flight, and its KV
// reservation does not change until that step has finished, so the draw
// order of its sampler and its tokens are those of M = 1. What cannot be
// placed while steps are in flight waits for them: preemption (and the
// error for a sequence that cannot grow at all) is decided only with none
// in flight, when every running sequence may be the victim. The step's
// kind says what the options say the backend can do (device_choice:
// kChoose, greedy_step: kGreedy, else kLogits); the callbacks themselves are
// called only for M = 1, whose path is unchanged.
//
// EngineOptions::admission can instead batch statically, as servers did
// before continuous batching (for comparison): a batch forms only while none
// runs, and runs to completion before anything else is admitted.
//
// Threads: Submit, Cancel, HasWork, WaitForWork and counters() may be
// called from any thread, also while a step runs; they only touch a
// mutex-guarded inbox. StepOnce (and the destructor) belong to one engine
// thread, which alone touches the executor, the sequences and the sinks:
// every RequestSink call is made from StepOnce or the destructor, without
// the engine's lock held, so a sink may call Submit or Cancel. Steps in
// flight run on the executor's own threads (a pipeline's stages) between a
// BeginStep and its FinishStep, both called from the engine thread; the
// engine touches nothing of a step in flight meanwhile but what BeginStep
// copied.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "runtime/exec/executor.h"
#include "runtime/serve/generation_request.h"
#include "runtime/serve/sampler.h"

namespace bloom {

using RequestId = uint64_t;

// Where one request's results go, on the engine's thread.
class RequestSink {
 public:
  virtual ~RequestSink() = default;
  // Each generated token as soon as it is chosen; returning true ends the
  // request (FinishReason::kStop, the token included), as
  // GenerationRequest::on_token does.
  // `logprob`: its log-probability (ChosenToken in runtime/serve/sampler.h).
  virtual bool OnToken(int32_t token, float logprob) { return false; }
  // Called exactly once, last: the outcome (also for a cancelled request,
  // with the tokens it got), or the error that ended the request (a failed
  // step, a KV cache too small for it, the engine destroyed first).
  virtual void OnFinish(absl::StatusOr<GenerationOutcome> outcome) = 0;
};

// What one step did, for benchmarks and tests (a step in flight: its time
// is from BeginStep to its tokens taken, its record made as it finishes).
struct StepRecord {
  double ms = 0;              // Step() plus choosing the tokens
  int32_t tokens = 0;         // T
  int32_t decode_tokens = 0;  // one-token steps of sequences past their first token
  int32_t logit_rows = 0;     // R
  int32_t sequences = 0;      // distinct sequences in the step
  int32_t preempted = 0;      // sequences preempted before this step
  bool greedy_step = false;   // ran through EngineOptions::greedy_step
  bool device_choice = false;  // ran through EngineOptions::device_choice
};

// A backend's fused "step, then argmax of each logit row on the device"
// (first index on ties, as ArgMaxOf): returns R ids instead of copying
// R × vocab logits to the host. Optional; see EngineOptions.
using GreedyStepFn = std::function<absl::StatusOr<absl::Span<const int32_t>>(const StepBatch&)>;
// A backend's fused "step, then choose every row's token on the device"
// (StepExecutor::StepAndChoose): R ids and log-probabilities come back
// instead of R × vocab logits. Optional; see EngineOptions.
using DeviceChoiceFn =
    std::function<absl::StatusOr<ChosenTokens>(const StepBatch&, const TokenChoices&)>;

struct EngineOptions {
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
  // Called on the engine's thread after every step.
  std::function<void(const StepRecord&)> on_step;
  // When set, used instead of StepExecutor::Step for every step whose
  // chosen tokens are all plain greedy choices (no sampling, no repetition
  // penalty, no banned end-of-sequence token, no kept logits): the tokens
  // are the same, without the logits' round trip to the host.
  GreedyStepFn greedy_step;
  // When set, used for every step that keeps no logits, whatever its
  // requests' settings (greedy or sampled, penalties, a banned token), in
  // place of both Step and greedy_step: the device applies each request's
  // processors and warpers and draws with the uniform its own generator
  // drew here, so the tokens follow the same distributions (and seeds) as
  // the host sampler's.
  DeviceChoiceFn device_choice;
  // Submit refuses a request (ResourceExhausted) while this many are
  // waiting for admission; 0: no bound.
  int32_t max_waiting = 0;
  // Steps in flight at most: 0 means the executor's max_steps_in_flight(); a
  // smaller positive number caps it (1: one step at a time, e.g. to measure
  // what a pipeline's micro-batching buys).
  int32_t max_steps_in_flight = 0;

  enum class Admission {
    // A waiting request joins the running ones at the first step with room
    // for it (continuous batching).
    kContinuous,
    // While no batch runs, the first static_batch_size waiting requests form
    // a batch once that many wait, or once the oldest has waited
    // static_batch_timeout. The batch runs to completion (its members
    // admitted as the step's budget allows, prompts chunked as ever) and no
    // other request is admitted until its last member ends. A request's
    // tokens are the same either way; only its waiting time differs.
    kStaticBatch,
  };
  Admission admission = Admission::kContinuous;
  // kStaticBatch: requests per batch; 0 (or more than the plan's
  // max_sequences): max_sequences.
  int32_t static_batch_size = 0;
  absl::Duration static_batch_timeout = absl::Milliseconds(100);
};

// A snapshot for a /metrics route, as of the last StepOnce (plus requests
// submitted since, which count as waiting).
struct EngineCounters {
  int32_t running = 0;  // admitted: holding a KV slot (in a step in flight or not)
  int32_t waiting = 0;  // submitted, not admitted (preempted ones included)
  int32_t free_kv_blocks = 0;
  int32_t kv_blocks = 0;    // the pool's size
  int64_t preemptions = 0;  // since the engine was made
};

class Engine {
 public:
  // The KV cache's slots may be shared with others; the engine takes a slot
  // when it admits a request and gives it back when the request ends.
  explicit Engine(StepExecutor& executor, EngineOptions options = {});
  // Finishes the steps in flight (FinishStep, their outcomes dropped), then
  // ends every unfinished request with an Unavailable error (one cancelled
  // while in flight: as cancelled) and gives back its slot. Engine thread
  // only: no StepOnce may be running.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Checks `request` against the plan (ValidateRequest: one-line errors),
  // then queues it; it joins the waiting requests, in submission order, at
  // the next StepOnce. `sink` must not be null. Any thread.
  absl::StatusOr<RequestId> Submit(GenerationRequest request, std::shared_ptr<RequestSink> sink);

  // Ends the request: at the next StepOnce, before that step is packed, its
  // KV slot and blocks are freed and its sink gets an outcome with
  // FinishReason::kCancelled and the tokens chosen so far. A request in a
  // step in flight ends when that step finishes (the executor may still
  // write its KV blocks until then), without that step's token: it has the
  // tokens it had when the cancel was taken in, as it would at M = 1. An id
  // that is unknown or already finished is ignored. No other request's
  // output changes. Any thread.
  void Cancel(RequestId id);

  // Engine thread only. Takes in submissions and cancels, then admits,
  // packs and runs one step (preempting first when nothing fits) and hands
  // its tokens to the sinks; with steps in flight, begins steps up to M and
  // finishes the oldest. Returns false when there was no request to step.
  // On an error (a failed step, a KV cache that cannot hold a single
  // sequence's next token, no slot to admit into) the affected requests'
  // sinks get the error, their slots are given back, and it is returned;
  // the other requests carry on at the next call. A failed BeginStep loses
  // its step's requests; a failed FinishStep (after which the executor may
  // be unusable) those of every step in flight, each FinishStep'd first.
  absl::StatusOr<bool> StepOnce();

  // Whether StepOnce has anything to do. Any thread.
  // Under kStaticBatch, requests waiting for a batch that has not formed
  // yet are not work until it is due (full, or its timeout passed).
  bool HasWork() const;
  // Blocks until HasWork() or `timeout` passes (absl::InfiniteDuration()
  // for no limit); returns HasWork(). For a serving loop on the engine
  // thread; it wakes when a static batch's timeout falls due.
  bool WaitForWork(absl::Duration timeout);

  EngineCounters counters() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Sequence;
  struct Chunk;
  struct StepPlan;
  struct InFlightStep;

  // Inbox: submissions join the waiting queue, then cancels are applied.
  void TakeInbox();
  void CancelNow(RequestId id);
  bool HasWorkLocked() const;

  // Admission: whether `s` may be admitted now (kStaticBatch: only members
  // of the batch), and forming a static batch when one is due.
  bool Admissible(const Sequence& s) const;
  void FormStaticBatch();
  // When StepOnce next has something to admit with nothing running:
  // min() when it has now, max() when nothing waits.
  Clock::time_point AdmissionDue() const;

  // Packing: one step's chunks within the plan's limits.
  // `after_preemption`: a preemption just freed blocks (decode first).
  // `max_chunks`: the most sequences the step may take.
  bool PackStep(StepPlan& step, bool after_preemption,
                int32_t max_chunks = std::numeric_limits<int32_t>::max());
  void PlaceRunning(bool decode, StepPlan& step);
  void Admit(StepPlan& step);
  bool Place(Sequence& s, int32_t max_count, StepPlan& step);
  // Nothing fits: frees the newest sequence's blocks (it is recomputed
  // later), or fails the requests that cannot run at all.
  absl::Status Preempt();

  // Running a packed step and taking its tokens. PackBatch fills the
  // batch's vectors (token_ids_ ...) and the record's counts; KindOf is
  // how the step's tokens are chosen, from what the options say the
  // backend can do.
  StepRecord PackBatch(const StepPlan& step);
  StepKind KindOf(const StepPlan& step) const;
  absl::Status RunStep(const StepPlan& step);
  // The one greedy predicate: whether a device argmax serves this chunk
  // (it keeps no logits, and a token it chooses is a bare argmax).
  bool ArgmaxServes(const Chunk& c) const;
  void TakeLogits(const Chunk& c, absl::Span<const float> logits);
  // Which of a step's three ways chose the tokens: the host sampler over
  // `logits`, the device argmax (`argmax`, no logprob), or the device's
  // choice (`chosen`).
  struct StepTokens {
    absl::Span<const float> logits;
    absl::Span<const int32_t> argmax;
    ChosenTokens chosen;
  };
  // The device choice's settings for each sampling chunk of `step`, in row
  // order (choices_, penalized_ids_).
  void DescribeChoices(const StepPlan& step);
  ChosenToken ChooseToken(Sequence& s, int32_t row, const StepTokens& tokens);
  // Advances the chunks' sequences past their step and hands on its tokens.
  void TakeTokens(absl::Span<const Chunk> chunks, const StepTokens& tokens);

  // Steps in flight (max_in_flight_ > 1). BeginSteps packs and begins
  // steps from sequences in none until max_in_flight_ are in flight or
  // nothing more can be packed, preempting (as StepOnce does for one step
  // at a time) only while none is in flight; FinishOldest finishes the
  // oldest and takes its tokens; EndInFlight ends a failed step's
  // sequences with `error` (or as cancelled, when that was asked).
  absl::Status BeginSteps();
  // The sequences that could take part now (running ones in no step,
  // admissible waiting ones in the free slots) shared out among the steps
  // still to begin: M micro-batches of about equal size keep every
  // pipeline stage busy, where one step taking them all would leave the
  // others empty.
  int32_t SequencesPerStep() const;
  absl::Status BeginPacked(StepPlan& step);
  absl::Status FinishOldest();
  void EndInFlight(const InFlightStep& flight, const absl::Status& error);
  // Appends the token and ends the request when it is the last.
  void Emit(Sequence& s, ChosenToken token);

  // Ending requests: each gives back its slot and its sink hears once.
  void Finish(Sequence& s, FinishReason reason);
  void Fail(Sequence& s, const absl::Status& error);
  // Drops ended sequences from the running and waiting lists.
  void DropEnded();
  void Publish();

  StepExecutor& executor_;
  EngineOptions options_;
  const plan::Plan& plan_;
  const int64_t vocab_;
  KvCache& cache_;
  const int32_t max_in_flight_;  // executor.max_steps_in_flight()
  const bool static_batching_;
  const size_t static_batch_size_;
  const Clock::duration static_batch_timeout_;

  // Engine thread only.
  std::unordered_map<RequestId, std::unique_ptr<Sequence>> live_;
  std::deque<Sequence*> waiting_;
  std::vector<Sequence*> running_;  // in order of admission; in-flight ones included
  // Oldest first (a list: InFlightStep is complete only in engine.cpp).
  std::list<InFlightStep> in_flight_;
  int32_t preempted_since_step_ = 0;
  std::vector<int32_t> token_ids_, positions_, slots_, logit_rows_;
  std::vector<RowChoice> choices_;
  std::vector<int32_t> penalized_ids_;

  // Shared with other threads.
  mutable std::mutex mu_;
  std::condition_variable work_arrived_;
  std::vector<std::unique_ptr<Sequence>> inbox_;
  std::vector<RequestId> cancels_;
  RequestId next_id_ = 1;
  EngineCounters published_;                                    // as of the last StepOnce
  Clock::time_point admission_due_ = Clock::time_point::max();  // as of the last StepOnce
};

}  // namespace bloom
