// A pipeline-parallel plan directory under mpirun: one mesh position per
// process (`mpirun -np M×N bloom-run PLAN_DIR`, any number of nodes), the
// multi-process twin of PipelineGroup (pipeline_group.h), with the same
// StepExecutor face on the leader and the same up-to-M steps in flight.
//
// Placement: global rank G runs pipeline stage S = G / N as its
// tensor-parallel rank R = G % N (plan_version.h's StagePlanFileName), so
// that a stage's N ranks are consecutive: mpirun's default by-slot mapping
// puts them on one node, where their all-reduces are fast, and the hidden
// state crosses nodes between stages. A stage's ranks share a communicator
// split from the job's (Communicator::Split) for their collectives.
//
// A step: the leader (G = 0: stage 0, rank 0) checks the batch against its
// KvCache, which keeps slots and blocks for every position, and sends the
// batch with the block tables to every other rank; then it runs its own part
// of stage 0, and BeginStep returns. Rank (S, R) receives the batch, for S >
// 0 the hidden rows from (S - 1, R), runs its part, and sends its hidden rows
// to (S + 1, R); the last stage's rank 0 sends the logits back to the leader
// without waiting (Communicator::SendWithoutWaiting: the leader may be
// sending the next step meanwhile), and FinishStep receives them. While the
// later stages run step k, the leader is free to begin step k + 1.
//
// Failure: at start every rank loads its plan and weights, and all agree on
// the outcome (AgreeOnStatus): a failure anywhere is every rank's error,
// "rank G: pipeline stage S, tp rank R: <cause>", before any step. A job
// started with other than M×N processes is refused by every rank. A rank
// that fails during a step reports "bloom: rank G: pipeline stage S, tp rank
// R: <cause>" and ends the job (MPI_Abort): every rank stops at once.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/comm/communicator.h"
#include "runtime/exec/executor.h"
#include "runtime/parallel/rank_group.h"
#include "runtime/plan/plan_loader.h"

namespace bloom {

class DistributedPipeline : public StepExecutor {
 public:
  // Every process calls this with the job's communicator; each returns OK
  // or the same error. `options.make_executor` makes this position's
  // executor; on_weight_loaded is called on the leader only.
  static absl::StatusOr<std::unique_ptr<DistributedPipeline>> Create(
      const std::string& plan_dir, std::unique_ptr<Communicator> world, const RankGroupOptions& options);
  // The leader shuts the followers down (Shutdown) if it has not.
  ~DistributedPipeline() override;

  bool is_leader() const { return rank_ == 0; }
  int pp_size() const { return pp_; }
  int tp_size() const { return tp_; }

  // The leader's StepExecutor face (a follower's calls are errors). Step
  // is one step at a time (StepAlone), refused while steps are in flight.
  absl::Status Step(const StepBatch& batch) override;
  absl::Span<const float> logits() const override { return last_outcome_.logits; }
  // The last stage's plan (the logits' width), loaded by the leader.
  const plan::Plan& plan() const override { return output_plan_.plan(); }
  KvCache& kv_cache() override { return executor_->kv_cache(); }
  std::string device_name() const override;
  int64_t peak_device_bytes() const override { return executor_->peak_device_bytes(); }
  WeightStreamStats weight_stream_totals() const override { return executor_->weight_stream_totals(); }
  int max_steps_in_flight() const override { return pp_; }
  absl::Status BeginStep(const StepBatch& batch, StepKind kind,
                         const TokenChoices* choices = nullptr) override;
  absl::StatusOr<StepOutcome> FinishStep() override;

  // Every rank but the leader: runs its part of each of the leader's steps
  // until the leader shuts down (OK). A failure ends the job.
  absl::Status RunFollower();
  // The leader: lets the followers' RunFollower() return. Idempotent.
  absl::Status Shutdown();

 private:
  DistributedPipeline() = default;
  // This position's part of a step: the hidden rows in (S > 0), its
  // executor's step with `tables`, the hidden rows or the logits out.
  absl::Status RunPosition(StepBatch batch, const int32_t* tables);
  // Reports `cause` for this position and ends the job (MPI); returns it
  // where the transport cannot end the job.
  absl::Status Fail(const absl::Status& cause);

  int pp_ = 1, tp_ = 1, rank_ = 0, stage_ = 0, tp_rank_ = 0;
  std::unique_ptr<Communicator> world_;  // the job's: steps, hidden state, logits
  std::unique_ptr<Communicator> stage_comm_;  // this stage's ranks (the executor's)
  std::unique_ptr<StepExecutor> executor_;
  LoadedPlan output_plan_;         // the last stage's plan (the leader's face)
  int64_t embedding_vocab_ = 0;    // the leader: ids a step may hold
  uint64_t hidden_row_bytes_ = 0;  // S > 0: one row of HiddenIn
  std::vector<uint8_t> hidden_;
  std::vector<int32_t> message_;  // a follower's received step
  // The leader: each step in flight's payload, sent without waiting, used
  // in turn.
  std::vector<std::vector<int32_t>> step_messages_;
  size_t next_step_message_ = 0;
  // The last stage's rank 0: the logits of the steps whose sends may still
  // be under way, a buffer per step in flight, used in turn.
  std::vector<std::vector<float>> logits_out_;
  size_t next_logits_out_ = 0;
  // The leader: the logit rows of each step in flight, oldest first.
  std::deque<int32_t> in_flight_rows_;
  StepOutcome last_outcome_;   // Step()'s
  bool shut_down_ = true;      // true until the group is ready
  absl::Status failure_;
};

// Under mpirun: the job's MPI communicator and DistributedPipeline::Create
// (Unimplemented in a build without MPI).
absl::StatusOr<std::unique_ptr<DistributedPipeline>> OpenDistributedPipeline(
    const std::string& plan_dir, const RankGroupOptions& options);

}  // namespace bloom
