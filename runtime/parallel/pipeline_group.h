// Runs a pipeline-parallel plan directory (pp_size M stages, each of tp_size
// tensor-parallel ranks; bloom-compile --pp=M [--tp=N]) and presents it as
// one StepExecutor that keeps up to M steps in flight (issue 16).
//
// Stages: stage S is a RankGroup over the directory's
// plan.stage<S>.rank<R>.bplan files (rank_group.h: a thread per rank and
// its own tensor-parallel communicators). Stage 0 embeds the token ids;
// every later stage starts from the hidden state the one before it ended
// with; the last stage computes the logits.
//
// The hidden state travels through communicators: the M stages form a
// ThreadCommunicator group of their own (stage S is its rank S), and after
// its part of a step stage S Sends its hidden rows to stage S + 1, which
// Recvs them as its StepBatch::hidden_in. Each stage's part of every step
// runs on that stage's own thread, in the order the steps began, so while
// stage 1 runs step k, stage 0 can already run step k + 1: BeginStep
// returns as soon as the step is queued, and FinishStep waits for the
// oldest step's logits. The engine (runtime/serve/engine.h) keeps M steps
// over disjoint sequences going, so that every stage is busy.
//
// KV cache: stage 0's leader executor's KvCache (kv_cache()) keeps slots
// and blocks for the whole pipeline; every stage keeps the K/V pools of its
// own layers and runs each step with the block tables as they were when the
// step began (copied in BeginStep), so the caller may change other slots'
// bookkeeping while steps are in flight.
//
// Failure: a stage whose part of a step fails ends that step with
// "pipeline stage S: rank R: <cause>"; the steps begun before it are past
// that stage and finish normally, the ones begun after it end with the same
// error, and so does every later BeginStep and Step: the group is unusable
// after a failure, as a RankGroup is. No stage waits for the failed step's
// hidden state (only the stages it reached take part in it), and a stage
// that hangs is caught by the communicators' timeout: a stage waiting for
// it fails.
//
// Not yet: NCCL send/receive between GPU stages (the hidden state goes
// through host memory).
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/comm/communicator.h"
#include "runtime/exec/executor.h"
#include "runtime/parallel/rank_group.h"

namespace bloom {

struct PipelineGroupOptions {
  // Every stage's rank group: the executor factory, the executor options
  // (on_weight_loaded is called for stage 0 only) and the collective
  // timeout, which also bounds a stage's wait for hidden state. pp_stage
  // and num_ranks are set per stage; stage S's ranks are placed from
  // first_local_rank + S·tp on (a replica's offset, then the stages').
  RankGroupOptions ranks;
  // How many stages to start; 0 means the plan's pp_size. A number other
  // than the plan's pp_size is refused.
  int num_stages = 0;
};

struct PipelineStep;
class StageWorker;

class PipelineGroup : public StepExecutor {
 public:
  // One process: every stage's ranks are threads of it.
  static absl::StatusOr<std::unique_ptr<PipelineGroup>> CreateThreaded(
      const std::string& plan_dir, const PipelineGroupOptions& options);
  // Steps still in flight are abandoned (the stages' communicator is
  // aborted so that no stage waits), then the stage threads are joined.
  ~PipelineGroup() override;

  int pp_size() const { return static_cast<int>(stages_.size()); }
  int tp_size() const { return stages_.front()->tp_size(); }

  // Step, StepGreedy and StepAndChoose: one step at a time (StepAlone: its
  // outcome in last_outcome_); refused while steps are in flight.
  absl::Status Step(const StepBatch& batch) override;
  absl::Span<const float> logits() const override { return last_outcome_.logits; }
  // The last stage's plan: its logits' width is vocab_size(); every stage
  // has the same limits (checked at start).
  const plan::Plan& plan() const override { return stages_.back()->plan(); }
  KvCache& kv_cache() override { return stages_.front()->kv_cache(); }
  std::string device_name() const override;
  int64_t peak_device_bytes() const override;
  WeightStreamStats weight_stream_totals() const override;

  // The last stage's device chooses the tokens where its backend can
  // (CUDA: argmax, or every row's sampling settings); only R ids and
  // log-probabilities then come back, not R x vocab logits.
  bool has_greedy_step() const override { return stages_.back()->has_greedy_step(); }
  absl::StatusOr<absl::Span<const int32_t>> StepGreedy(const StepBatch& batch) override;
  bool has_device_choice() const override { return stages_.back()->has_device_choice(); }
  absl::StatusOr<ChosenTokens> StepAndChoose(const StepBatch& batch,
                                             const TokenChoices& choices) override;

  // Up to pp_size() steps in flight, of any kind the last stage can end.
  int max_steps_in_flight() const override { return pp_size(); }
  absl::Status BeginStep(const StepBatch& batch, StepKind kind,
                         const TokenChoices* choices = nullptr) override;
  absl::StatusOr<StepOutcome> FinishStep() override;

  // For tests and tensor dumps.
  RankGroup& stage(int index) { return *stages_[index]; }

 private:
  PipelineGroup() = default;
  // Stage `s`'s part of `step`, on its worker thread.
  void RunStage(int s, const std::shared_ptr<PipelineStep>& step);
  // Records `cause`, from the step numbered `step`, as the group's failure
  // (the first one wins) and returns the recorded failure.
  absl::Status Fail(absl::Status cause, uint64_t step);
  absl::Status failure() const;
  // The failure, for the step numbered `step`: OK for the steps begun
  // before the failing one, which are past the failed stage and finish.
  absl::Status FailureFor(uint64_t step) const;

  std::vector<std::unique_ptr<RankGroup>> stages_;
  // The stages' communicator: links_[S] is stage S's end (rank S of pp_size).
  std::vector<std::unique_ptr<Communicator>> links_;
  // Per stage: the bytes of one row of its HiddenIn (0 for stage 0), and
  // the buffer its thread receives them into.
  std::vector<uint64_t> hidden_row_bytes_;
  std::vector<std::vector<uint8_t>> hidden_in_;
  // Engine thread only: steps begun and not finished, oldest first, and
  // the last step run alone (Step's logits, StepGreedy's and
  // StepAndChoose's ids).
  std::deque<std::shared_ptr<PipelineStep>> in_flight_;
  StepOutcome last_outcome_;
  uint64_t next_step_ = 0;  // engine thread only
  mutable std::mutex failure_mu_;
  absl::Status failure_;     // guarded by failure_mu_
  uint64_t failed_step_ = 0;  // guarded by failure_mu_: the step failure_ came from
  // Last: the stage threads start after everything they use exists, and
  // are joined before it goes.
  std::vector<std::unique_ptr<StageWorker>> workers_;
};

// True when `plan_dir` holds pipeline stages (plan.stage0.rank0.bplan):
// such a directory runs as a PipelineGroup.
bool IsPipelineDirectory(const std::string& plan_dir);

}  // namespace bloom
