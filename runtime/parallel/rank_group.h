// Runs a plan directory's tensor-parallel ranks together and presents them
// as one StepExecutor (DESIGN.md, decision 6). Each rank's executor comes
// from RankGroupOptions::make_executor: the CPU backend's
// (runtime/cpu/cpu_rank_executor.h), or the CUDA backend's (runtime/cuda/cuda_rank_executor.h) with a GPU per rank.
//
// Two launch modes, one API:
//   - Threaded (one process): an executor per rank, each stepped on its own
//     thread (a GPU rank stays bound to its device), joined by
//     ThreadCommunicators (the host-memory group a GPU rank bootstraps
//     NCCL from). Step() runs every rank on the
//     same batch and returns when all have finished; logits() are rank 0's.
//   - Distributed (one rank per process, under mpirun): this process holds
//     its own rank. Rank 0, the leader, is the StepExecutor the generator
//     drives; every other rank calls RunFollower(), which receives each step
//     the leader takes and runs it, until the leader's Shutdown().
//
// Token agreement: only the leader decides. The generator (and its sampler)
// runs on rank 0 alone; the leader broadcasts each step's whole batch (token
// ids, positions, slots, logit rows) and the KV cache's block tables before
// running it. So the ranks agree on every sampled token by construction, and
// no other rank needs a seed or the logits.
//
// KV cache: the leader's KvCache (kv_cache()) keeps slots and blocks for the
// group; each rank keeps its own K/V pools (its heads) and follows the
// leader's block tables (StepExecutor::StepWithBlockTables).
//
// Failure: at start every rank loads its plan and weights; if any fails,
// every rank gets the same error, "rank R: <cause>", from the lowest failed
// rank, before any step (the distributed mode agrees on it collectively). A
// rank that fails during a step aborts the group (Communicator::Abort): the
// other threads' collectives return at once and Step() returns the failed
// rank's error; under MPI the failed process prints "bloom: rank R: <cause>
// (MPI rank R of N ends the job)" and MPI_Abort ends the job. A rank that
// hangs is caught by the collective timeout (threads). After a failure the
// group is unusable: every later Step() returns the same error.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/comm/communicator.h"
#include "runtime/exec/executor.h"
#include "runtime/plan/plan_loader.h"

namespace bloom {

// Where a rank runs among the ranks of its process's host: what a GPU
// backend needs to pick the rank's device.
struct RankPlacement {
  int local_rank = 0;  // this rank's index among the ranks on this host
  int local_size = 1;  // ranks on this host
};

// Makes one rank's executor for `plan` (rank host_comm.rank() of
// host_comm.size()). `host_comm` is the rank's host-memory communicator
// (threads or MPI; not owned, it outlives the executor). Called on the
// thread that will step the executor.
using RankExecutorFactory = std::function<absl::StatusOr<std::unique_ptr<StepExecutor>>(
    LoadedPlan plan, const ExecutorOptions& options, Communicator& host_comm,
    const RankPlacement& placement)>;

struct RankGroupOptions {
  // Every rank's executor options; on_weight_loaded is called by rank 0 only.
  ExecutorOptions executor;
  // Threaded mode: how many ranks to start; 0 means the plan's tp_size. A
  // number other than the plan's tp_size is refused.
  int num_ranks = 0;
  // Bounds every wait in a collective (threaded mode), so that a hung rank
  // ends in an error naming it rather than a hang.
  absl::Duration collective_timeout = absl::Minutes(5);
  // A pipeline stage's ranks (runtime/parallel/pipeline_group.h): the
  // directory's plan.stage<S>.rank<R>.bplan files instead of the
  // tensor-parallel names; -1 for a directory without pipeline stages.
  int pp_stage = -1;
  // Threaded mode: where the group's ranks sit among the process's ranks
  // (RankPlacement): rank r is local rank first_local_rank + r of
  // local_ranks (0: the group's own size). A pipeline's stage S of tp ranks
  // takes S·tp of pp·tp, so that each stage's ranks get GPUs of their own.
  int first_local_rank = 0;
  int local_ranks = 0;
  // Each rank's executor (required): CpuRankExecutors()
  // (runtime/cpu/cpu_rank_executor.h) or CudaRankExecutors()
  // (runtime/cuda/cuda_rank_executor.h). The group knows no backend.
  RankExecutorFactory make_executor;
};

class RankWorker;

class RankGroup : public StepExecutor {
 public:
  // One process, a thread per rank.
  static absl::StatusOr<std::unique_ptr<RankGroup>> CreateThreaded(const std::string& plan_dir,
                                                                   const RankGroupOptions& options);
  // One rank per process; `comm` (an MpiCommunicator, say) says which. Every
  // process calls this; each returns OK, or the same error (the lowest failed
  // rank's).
  static absl::StatusOr<std::unique_ptr<RankGroup>> CreateDistributed(
      const std::string& plan_dir, std::unique_ptr<Communicator> comm,
      const RankGroupOptions& options);
  // The leader sends Shutdown() if it has not (and the group did not fail).
  ~RankGroup() override;

  int tp_size() const { return tp_size_; }
  // This process's rank: 0 in threaded mode.
  int rank() const { return rank_; }
  bool is_leader() const { return rank_ == 0; }
  bool distributed() const { return comm_ != nullptr; }

  // The leader's StepExecutor face. Step() on a follower is an error.
  absl::Status Step(const StepBatch& batch) override;
  // The group's greedy fast path where the leader's executor has one: the
  // leader takes the argmax on its device, the other ranks just step.
  bool has_greedy_step() const override { return executors_[0]->has_greedy_step(); }
  absl::StatusOr<absl::Span<const int32_t>> StepGreedy(const StepBatch& batch) override;
  // Token choice the same way: the leader chooses on its device.
  bool has_device_choice() const override { return executors_[0]->has_device_choice(); }
  absl::StatusOr<ChosenTokens> StepAndChoose(const StepBatch& batch,
                                             const TokenChoices& choices) override;
  // A pipeline's last stage: the same with the pipeline leader's block
  // tables (threaded mode).
  absl::StatusOr<absl::Span<const int32_t>> StepGreedyWithBlockTables(
      const StepBatch& batch, const int32_t* block_tables) override;
  absl::StatusOr<ChosenTokens> StepAndChooseWithBlockTables(const StepBatch& batch,
                                                            const TokenChoices& choices,
                                                            const int32_t* block_tables) override;
  // A pipeline stage's step (PipelineGroup): every rank runs `batch` with the
  // pipeline leader's `block_tables`, as the followers always do; the
  // caller has checked the batch (CheckBatch, against the leader's KvCache).
  absl::Status StepWithBlockTables(const StepBatch& batch, const int32_t* block_tables) override;
  absl::Span<const float> logits() const override { return executors_[0]->logits(); }
  // A stage before the last: rank 0's hidden state (every rank holds the
  // same rows after the stage's last all-reduce).
  absl::Span<const uint8_t> hidden_out() const override { return executors_[0]->hidden_out(); }
  const plan::Plan& plan() const override { return executors_[0]->plan(); }
  KvCache& kv_cache() override { return executors_[0]->kv_cache(); }
  std::string device_name() const override;
  int64_t peak_device_bytes() const override { return executors_[0]->peak_device_bytes(); }
  // Summed over the ranks this process holds (every rank in threaded mode).
  WeightStreamStats weight_stream_totals() const override;

  // Checks a batch on the leader before any rank sees it, token ids
  // included, so that bad input is an error on the leader alone, never a
  // failure inside a collective. Public for a pipeline's first stage.
  absl::Status CheckBatch(const StepBatch& batch);

  // Distributed followers: runs the leader's steps until it shuts down
  // (OK), or until a step fails (which ends the job, see above).
  absl::Status RunFollower();
  // Distributed leader: lets the followers' RunFollower() return. Idempotent.
  absl::Status Shutdown();
  // Ends the group after a failure outside a step (e.g. the tool's own):
  // poisons the threaded group; under MPI reports `cause` and ends the job.
  // `cause` should name the rank (as Step()'s and Create*()'s errors do).
  void Abort(const absl::Status& cause);

  // The executors held here: every rank's in threaded mode, this rank's
  // alone (index 0) in distributed mode. For tests and tensor dumps.
  int num_local_executors() const { return static_cast<int>(executors_.size()); }
  StepExecutor& local_executor(int index) { return *executors_[index]; }

 private:
  RankGroup() = default;
  // A stage's step's checks: a threaded group, tables given, the batch's
  // shape.
  absl::Status CheckStageStep(const StepBatch& batch, const int32_t* block_tables);
  // The leader's part of a step when it is not a plain Step: its greedy
  // step or its token choice, run on its own executor (whose KvCache holds
  // the group's block tables).
  using LeaderStep = std::function<absl::Status(StepExecutor& leader)>;
  // Runs one step on every rank, the leader through `leader_step` when it
  // is not null.
  absl::Status StepAll(const StepBatch& batch, const LeaderStep* leader_step);
  // `tables`: the block tables every rank but a leader taking
  // `leader_step` runs with.
  absl::Status StepThreaded(const StepBatch& batch, const LeaderStep* leader_step,
                            const int32_t* tables);
  absl::Status StepDistributed(const StepBatch& batch, const LeaderStep* leader_step);
  // Records `cause` as the group's failure, aborts the communicator(s), and
  // returns it.
  absl::Status Fail(absl::Status cause);

  int tp_size_ = 1;
  int rank_ = 0;
  std::string plan_dir_;
  int64_t embedding_vocab_ = 0;  // ids a step may hold: [0, embedding_vocab_)
  std::vector<std::unique_ptr<StepExecutor>> executors_;
  // Threaded mode: a communicator and a worker thread per rank.
  std::vector<std::unique_ptr<Communicator>> thread_comms_;
  std::vector<std::unique_ptr<RankWorker>> workers_;
  absl::Duration timeout_;
  // Distributed mode: this process's communicator.
  std::unique_ptr<Communicator> comm_;
  // True until a distributed group is ready (and again after Shutdown()):
  // the leader sends Shutdown() only to followers that are in RunFollower.
  bool shut_down_ = true;
  absl::Status failure_;  // not OK once the group has failed
  std::vector<int32_t> message_;  // distributed step payload
};

// The ids every embedding of `plan` accepts: [0, result) (the int64 maximum
// for a plan without one: a later pipeline stage).
int64_t EmbeddingVocab(const plan::Plan& plan);
// InvalidArgument naming the first token id of `batch` outside [0, vocab).
absl::Status CheckTokenIds(const StepBatch& batch, int64_t vocab);

// The entry point for a tool: under mpirun (LaunchedByMpiLauncher()) this
// process becomes one rank of a distributed group over MPI (Unimplemented if
// the runtime was built without MPI); otherwise every rank runs as a thread
// of this process. A tp=1 plan directory works in both modes.
absl::StatusOr<std::unique_ptr<RankGroup>> OpenRankGroup(const std::string& plan_dir,
                                                         const RankGroupOptions& options);

}  // namespace bloom
