#include "runtime/parallel/rank_group.h"

#include <sys/stat.h>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <limits>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/comm/agree_on_status.h"
#include "runtime/parallel/launcher_env.h"
#include "runtime/parallel/step_message.h"
#include "runtime/comm/thread_communicator.h"
#include "runtime/plan/plan_version.h"
#include "runtime/support/status_macros.h"
#if BLOOM_HAVE_MPI
#include "runtime/comm/mpi_communicator.h"
#endif

namespace bloom {

// A thread that runs one rank's jobs, one at a time, so that each rank
// always runs on the same thread (what a GPU rank bound to its device
// needs, and harmless on the CPU).
class RankWorker {
 public:
  RankWorker() : thread_([this] { Loop(); }) {}
  ~RankWorker() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Post(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = std::move(job);
    }
    cv_.notify_all();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return job_ != nullptr || quit_; });
      if (job_ == nullptr) return;
      std::function<void()> job = std::move(job_);
      job_ = nullptr;
      lock.unlock();
      job();
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> job_;
  bool quit_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

namespace {

// The results of one round of jobs, one per rank. Shared with the jobs, so
// that it outlives a worker that is abandoned mid-job.
struct Round {
  explicit Round(int n) : results(n), done(n, false) {}
  std::mutex mu;
  std::condition_variable cv;
  std::vector<absl::Status> results;
  std::vector<bool> done;
  int finished = 0;
  bool failed = false;
};

// What every rank's plan must agree on for the ranks to run in lockstep:
// tp_size, the limits, the KV cache's slot/block geometry, the vocabulary.
using Fingerprint = std::array<int64_t, 9>;
Fingerprint PlanFingerprint(const plan::Plan& p) {
  const auto* limits = p.limits();
  const auto* kv = p.kv_cache();
  const uint32_t logits = FindTensorWithRole(p, plan::TensorRole::Logits);
  return {p.tp_size(),          limits->max_batch_tokens(), limits->max_seq_len(),
          limits->max_sequences(), limits->max_logit_rows(), kv->num_layers(),
          kv->block_size(),       kv->num_blocks(),
          logits == kNoTensor ? 0 : p.tensors()->Get(logits)->shape()->Get(1)};
}

// Rank `rank`'s plan of the group: its stage's (stage >= 0) or the
// tensor-parallel directory's.
absl::StatusOr<LoadedPlan> LoadRankPlan(const std::string& plan_dir, int stage, int rank) {
  return stage >= 0 ? LoadedPlan::LoadStage(plan_dir, stage, rank) : LoadedPlan::Load(plan_dir, rank);
}

std::string RankPlanName(int stage, int rank) {
  return stage >= 0 ? plan::StagePlanFileName(stage, rank) : plan::RankPlanFileName(rank);
}

absl::Status WithRank(int rank, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat("rank ", rank, ": ", status.message()));
}

// A directory compiled for tp=N holds ranks 0..N-1; a plan file of rank N
// means files of two compilations are mixed, and is refused rather than
// ignored.
absl::Status CheckNoExtraRank(const std::string& plan_dir, int stage, int tp_size) {
  if (tp_size == 1 && stage < 0) return absl::OkStatus();
  const std::string extra = absl::StrCat(plan_dir, "/", RankPlanName(stage, tp_size));
  struct stat info {};
  if (stat(extra.c_str(), &info) == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        extra, ": present, but rank 0's plan is for tp=", tp_size,
        "; the plan directory mixes files of different compilations"));
  }
  return absl::OkStatus();
}

// Distributed step protocol: a header, then (for kStep) one int32 payload.
enum Command : int32_t { kStep = 1, kShutdown = 2 };
constexpr int kHeaderInts = 4;  // command, T, R, block-table entries

}  // namespace

int64_t EmbeddingVocab(const plan::Plan& p) {
  int64_t vocab = std::numeric_limits<int64_t>::max();
  for (const auto* inst : *p.instructions()) {
    if (inst->kernel_type() != plan::Kernel::EmbeddingGather) continue;
    const auto* params = inst->kernel_as_EmbeddingGather();
    const int64_t rows = p.tensors()->Get(inst->operands()->Get(1))->shape()->Get(0);
    vocab = std::min(vocab, params->vocab_size() == 0 ? rows : params->vocab_size());
  }
  return vocab;
}

absl::Status CheckTokenIds(const StepBatch& batch, int64_t vocab) {
  for (size_t t = 0; t < batch.token_ids.size(); ++t) {
    const int32_t id = batch.token_ids[t];
    if (id < 0 || id >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", id, " at batch index ", t,
                                                     " is outside the vocabulary [0, ", vocab, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<RankGroup>> RankGroup::CreateThreaded(const std::string& plan_dir,
                                                                     const RankGroupOptions& options) {
  std::unique_ptr<RankGroup> group(new RankGroup());
  group->plan_dir_ = plan_dir;
  group->timeout_ = options.collective_timeout;
  const int stage = options.pp_stage;
  BLOOM_ASSIGN_OR_RETURN(LoadedPlan plan0, LoadRankPlan(plan_dir, stage, 0));
  const int n = plan0.plan().tp_size();
  if (options.num_ranks != 0 && options.num_ranks != n) {
    return absl::FailedPreconditionError(absl::StrCat(
        plan0.label(), ": the plan is for tp=", n, " but ", options.num_ranks,
        " rank(s) were asked for; start exactly ", n));
  }
  BLOOM_RETURN_IF_ERROR(CheckNoExtraRank(plan_dir, stage, n));
  const Fingerprint fingerprint0 = PlanFingerprint(plan0.plan());
  group->tp_size_ = n;
  group->embedding_vocab_ = EmbeddingVocab(plan0.plan());
  for (auto& comm : ThreadCommunicator::CreateGroup(n, options.collective_timeout)) {
    group->thread_comms_.push_back(std::move(comm));
  }
  group->executors_.resize(n);
  for (int r = 0; r < n; ++r) group->workers_.push_back(std::make_unique<RankWorker>());
  if (!options.make_executor)
    return absl::InvalidArgumentError("RankGroupOptions::make_executor is not set");
  const RankExecutorFactory& make_executor = options.make_executor;

  // Ranks load their plans and weights in parallel. Loading involves no
  // collective, so a failed rank cannot leave the others waiting.
  auto round = std::make_shared<Round>(n);
  RankGroup* g = group.get();
  for (int r = 0; r < n; ++r) {
    g->workers_[r]->Post([g, r, n, stage, round, &plan0, &plan_dir, &options, &fingerprint0,
                          &make_executor] {
      absl::Status status = [&]() -> absl::Status {
        absl::StatusOr<LoadedPlan> plan = r == 0 ? absl::StatusOr<LoadedPlan>(std::move(plan0))
                                                 : LoadRankPlan(plan_dir, stage, r);
        if (!plan.ok()) return plan.status();
        if (PlanFingerprint(plan->plan()) != fingerprint0) {
          return absl::FailedPreconditionError(absl::StrCat(
              plan->label(), ": its tp_size, limits, KV cache or vocabulary differ from rank 0's; "
              "the plan directory mixes files of different compilations"));
        }
        ExecutorOptions rank_options = options.executor;
        if (r != 0) rank_options.on_weight_loaded = nullptr;
        BLOOM_ASSIGN_OR_RETURN(g->executors_[r],
                               make_executor(*std::move(plan), rank_options, *g->thread_comms_[r],
                                             RankPlacement{options.first_local_rank + r,
                                                           options.local_ranks > 0 ? options.local_ranks : n}));
        return absl::OkStatus();
      }();
      // A GPU rank joins its group (NCCL's bootstrap) while loading: a rank
      // that fails must release the peers waiting for it at once.
      if (!status.ok()) g->thread_comms_[r]->Abort(status);
      std::lock_guard<std::mutex> lock(round->mu);
      round->results[r] = status;
      ++round->finished;
      round->cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(round->mu);
    round->cv.wait(lock, [&] { return round->finished == n; });
  }
  // The root cause is a rank's own error, not a peer's report of the abort.
  for (bool aborted_too : {false, true}) {
    for (int r = 0; r < n; ++r) {
      const absl::Status& status = round->results[r];
      if (!status.ok() && (aborted_too || status.code() != absl::StatusCode::kAborted)) {
        return WithRank(r, status);
      }
    }
  }
  return group;
}

absl::StatusOr<std::unique_ptr<RankGroup>> RankGroup::CreateDistributed(
    const std::string& plan_dir, std::unique_ptr<Communicator> comm, const RankGroupOptions& options) {
  std::unique_ptr<RankGroup> group(new RankGroup());
  group->plan_dir_ = plan_dir;
  group->timeout_ = options.collective_timeout;
  group->rank_ = comm->rank();
  group->tp_size_ = comm->size();
  group->comm_ = std::move(comm);
  Communicator& c = *group->comm_;
  group->executors_.resize(1);

  // Each rank loads its own plan and weights; then all ranks check that
  // their plans agree with rank 0's and agree on the outcome, so that a
  // failure anywhere stops every rank here, before any step.
  absl::Status local = [&]() -> absl::Status {
    BLOOM_ASSIGN_OR_RETURN(LoadedPlan plan, LoadedPlan::Load(plan_dir, c.rank()));
    if (plan.plan().tp_size() != c.size()) {
      return absl::FailedPreconditionError(absl::StrCat(
          plan.label(), ": the plan is for tp=", plan.plan().tp_size(), " but was started with ",
          c.size(), " rank(s) (", c.transport(), "); start exactly ", plan.plan().tp_size()));
    }
    if (c.rank() == 0) BLOOM_RETURN_IF_ERROR(CheckNoExtraRank(plan_dir, -1, c.size()));
    ExecutorOptions rank_options = options.executor;
    if (c.rank() != 0) rank_options.on_weight_loaded = nullptr;
    if (!options.make_executor)
      return absl::InvalidArgumentError("RankGroupOptions::make_executor is not set");
    const RankExecutorFactory& make_executor = options.make_executor;
    const RankPlacement placement{MpiLauncherLocalRank(), MpiLauncherLocalSize()};
    BLOOM_ASSIGN_OR_RETURN(group->executors_[0],
                           make_executor(std::move(plan), rank_options, c, placement));
    return absl::OkStatus();
  }();
  Fingerprint mine{};
  if (local.ok()) mine = PlanFingerprint(group->executors_[0]->plan());
  Fingerprint leader = mine;
  BLOOM_RETURN_IF_ERROR(c.Broadcast(leader.data(), sizeof(leader), 0));
  if (local.ok() && leader[0] != 0 && leader != mine) {
    local = absl::FailedPreconditionError(absl::StrCat(
        plan_dir, "/", plan::RankPlanFileName(c.rank()),
        ": its limits, KV cache or vocabulary differ from rank 0's; the plan directory mixes files "
        "of different compilations"));
  }
  BLOOM_RETURN_IF_ERROR(AgreeOnStatus(c, local));
  group->shut_down_ = false;  // from here on the leader owes the followers a Shutdown()
  group->embedding_vocab_ = EmbeddingVocab(group->executors_[0]->plan());
  return group;
}

RankGroup::~RankGroup() {
  if (distributed() && is_leader() && failure_.ok()) Shutdown().IgnoreError();
  bool abandoned = false;
  for (auto& worker : workers_) abandoned |= worker == nullptr;
  if (abandoned) {
    // A stuck rank thread may still touch its executor and communicator:
    // leak them rather than free memory under it. The process is about to
    // report the failure and exit.
    for (auto& executor : executors_) executor.release();
    for (auto& comm : thread_comms_) comm.release();
  }
  workers_.clear();  // joins the threads before the executors they step go
}

std::string RankGroup::device_name() const {
  const std::string device = executors_[0]->device_name();
  return distributed()
             ? absl::StrCat(device, " (tp=", tp_size_, ", rank ", rank_, ", ", comm_->transport(), ")")
             : absl::StrCat(device, " (tp=", tp_size_, ", threads)");
}

WeightStreamStats RankGroup::weight_stream_totals() const {
  WeightStreamStats sum;
  for (const auto& executor : executors_) {
    const WeightStreamStats rank = executor->weight_stream_totals();
    sum.bytes += rank.bytes;
    sum.units += rank.units;
    // The ranks stream side by side: the group waits as long as its slowest.
    sum.fill_seconds = std::max(sum.fill_seconds, rank.fill_seconds);
    sum.wait_seconds = std::max(sum.wait_seconds, rank.wait_seconds);
  }
  return sum;
}

absl::Status RankGroup::Fail(absl::Status cause) {
  if (failure_.ok()) failure_ = cause;
  for (auto& comm : thread_comms_) comm->Abort(cause);
  if (comm_ != nullptr) comm_->Abort(cause);  // MPI: does not return
  return failure_;
}

void RankGroup::Abort(const absl::Status& cause) { Fail(cause).IgnoreError(); }

absl::Status RankGroup::CheckBatch(const StepBatch& batch) {
  BLOOM_RETURN_IF_ERROR(CheckStepBatch(plan(), kv_cache(), batch));
  return CheckTokenIds(batch, embedding_vocab_);
}

absl::Status RankGroup::Step(const StepBatch& batch) { return StepAll(batch, nullptr); }

absl::StatusOr<absl::Span<const int32_t>> RankGroup::StepGreedy(const StepBatch& batch) {
  if (!has_greedy_step()) return StepExecutor::StepGreedy(batch);
  absl::Span<const int32_t> tokens;
  const LeaderStep leader_step = [&](StepExecutor& leader) {
    absl::StatusOr<absl::Span<const int32_t>> ids = leader.StepGreedy(batch);
    if (ids.ok()) tokens = *ids;
    return ids.status();
  };
  BLOOM_RETURN_IF_ERROR(StepAll(batch, &leader_step));
  return tokens;
}

absl::StatusOr<ChosenTokens> RankGroup::StepAndChoose(const StepBatch& batch,
                                                      const TokenChoices& choices) {
  if (!has_device_choice()) return StepExecutor::StepAndChoose(batch, choices);
  ChosenTokens tokens;
  const LeaderStep leader_step = [&](StepExecutor& leader) {
    absl::StatusOr<ChosenTokens> chosen = leader.StepAndChoose(batch, choices);
    if (chosen.ok()) tokens = *chosen;
    return chosen.status();
  };
  BLOOM_RETURN_IF_ERROR(StepAll(batch, &leader_step));
  return tokens;
}

absl::Status RankGroup::StepAll(const StepBatch& batch, const LeaderStep* leader_step) {
  if (!failure_.ok()) return failure_;
  if (!is_leader()) {
    return absl::FailedPreconditionError(
        absl::StrCat("Step() called on rank ", rank_, "; ranks other than 0 run RunFollower()"));
  }
  if (distributed() && shut_down_) return absl::FailedPreconditionError("Step() after Shutdown()");
  // A bad batch is the caller's error and leaves the group intact.
  BLOOM_RETURN_IF_ERROR(CheckBatch(batch));
  return distributed() ? StepDistributed(batch, leader_step)
                       : StepThreaded(batch, leader_step, kv_cache().block_tables());
}

absl::Status RankGroup::CheckStageStep(const StepBatch& batch, const int32_t* block_tables) {
  if (!failure_.ok()) return failure_;
  if (distributed()) {
    return absl::UnimplementedError(
        "a step with given block tables on a distributed rank group (pipeline stages under "
        "mpirun run each position's own executor)");
  }
  if (block_tables == nullptr) return absl::InvalidArgumentError("a stage's step without block tables");
  return CheckStepShape(plan(), batch);
}

absl::Status RankGroup::StepWithBlockTables(const StepBatch& batch, const int32_t* block_tables) {
  BLOOM_RETURN_IF_ERROR(CheckStageStep(batch, block_tables));
  return StepThreaded(batch, nullptr, block_tables);
}

absl::StatusOr<absl::Span<const int32_t>> RankGroup::StepGreedyWithBlockTables(
    const StepBatch& batch, const int32_t* block_tables) {
  if (!has_greedy_step()) return StepExecutor::StepGreedyWithBlockTables(batch, block_tables);
  BLOOM_RETURN_IF_ERROR(CheckStageStep(batch, block_tables));
  absl::Span<const int32_t> tokens;
  const LeaderStep leader_step = [&](StepExecutor& leader) {
    absl::StatusOr<absl::Span<const int32_t>> ids = leader.StepGreedyWithBlockTables(batch, block_tables);
    if (ids.ok()) tokens = *ids;
    return ids.status();
  };
  BLOOM_RETURN_IF_ERROR(StepThreaded(batch, &leader_step, block_tables));
  return tokens;
}

absl::StatusOr<ChosenTokens> RankGroup::StepAndChooseWithBlockTables(const StepBatch& batch,
                                                                     const TokenChoices& choices,
                                                                     const int32_t* block_tables) {
  if (!has_device_choice()) {
    return StepExecutor::StepAndChooseWithBlockTables(batch, choices, block_tables);
  }
  BLOOM_RETURN_IF_ERROR(CheckStageStep(batch, block_tables));
  ChosenTokens tokens;
  const LeaderStep leader_step = [&](StepExecutor& leader) {
    absl::StatusOr<ChosenTokens> chosen = leader.StepAndChooseWithBlockTables(batch, choices, block_tables);
    if (chosen.ok()) tokens = *chosen;
    return chosen.status();
  };
  BLOOM_RETURN_IF_ERROR(StepThreaded(batch, &leader_step, block_tables));
  return tokens;
}

absl::Status RankGroup::StepThreaded(const StepBatch& batch, const LeaderStep* leader_step,
                                     const int32_t* tables) {
  const int n = tp_size_;
  auto round = std::make_shared<Round>(n);
  for (int r = 0; r < n; ++r) {
    StepExecutor* executor = executors_[r].get();
    Communicator* comm = thread_comms_[r].get();
    // The leader's own KvCache holds `tables`, so its own kind of step
    // needs no tables passed in.
    const LeaderStep* own_step = r == 0 ? leader_step : nullptr;
    workers_[r]->Post([executor, comm, round, r, &batch, tables, own_step] {
      absl::Status status;
      if (own_step != nullptr) {
        status = (*own_step)(*executor);
      } else {
        status = executor->StepWithBlockTables(batch, tables);
      }
      // Poison at once, so that peers blocked in a collective return now.
      if (!status.ok()) comm->Abort(status);
      std::lock_guard<std::mutex> lock(round->mu);
      round->results[r] = status;
      round->done[r] = true;
      round->failed |= !status.ok();
      ++round->finished;
      round->cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(round->mu);
  round->cv.wait(lock, [&] { return round->finished == n || round->failed; });
  if (round->finished < n) {
    // Poisoned peers return promptly; one that does not is stuck outside
    // any collective and is abandoned after the timeout.
    round->cv.wait_for(lock, absl::ToChronoNanoseconds(timeout_), [&] { return round->finished == n; });
  }
  // The root cause is a rank's own error; the others report the poison
  // (kAborted) or a timeout waiting for it.
  int cause = -1;
  for (int r = 0; r < n && cause < 0; ++r) {
    if (round->done[r] && !round->results[r].ok() && round->results[r].code() != absl::StatusCode::kAborted) {
      cause = r;
    }
  }
  for (int r = 0; r < n && cause < 0; ++r) {
    if (round->done[r] && !round->results[r].ok()) cause = r;
  }
  if (cause < 0) return absl::OkStatus();
  absl::Status status = WithRank(cause, round->results[cause]);
  std::vector<int> stuck;
  for (int r = 0; r < n; ++r) {
    if (!round->done[r]) stuck.push_back(r);
  }
  if (!stuck.empty()) {
    // A worker stuck in a job cannot be joined: it is leaked with its
    // thread, and so is what the job uses (see ~RankGroup).
    for (int r : stuck) workers_[r].release();
    status = absl::Status(status.code(), absl::StrCat(status.message(), "; rank(s) ",
                                                      absl::StrJoin(stuck, ", "), " did not stop within ",
                                                      absl::FormatDuration(timeout_)));
  }
  lock.unlock();
  return Fail(status);
}

absl::Status RankGroup::StepDistributed(const StepBatch& batch, const LeaderStep* leader_step) {
  const KvCache& cache = kv_cache();
  const int32_t table_entries = cache.shape().max_sequences * cache.max_blocks_per_sequence();
  const int32_t t = static_cast<int32_t>(batch.token_ids.size());
  const int32_t r = static_cast<int32_t>(batch.logit_rows.size());
  int32_t header[kHeaderInts] = {kStep, t, r, table_entries};
  PackStepMessage(batch, cache.block_tables(), table_entries, message_);
  if (auto s = comm_->Broadcast(header, sizeof(header), 0); !s.ok()) return Fail(WithRank(0, s));
  if (auto s = comm_->Broadcast(message_.data(), message_.size() * sizeof(int32_t), 0); !s.ok()) {
    return Fail(WithRank(0, s));
  }
  if (leader_step != nullptr) {
    if (auto s = (*leader_step)(*executors_[0]); !s.ok()) return Fail(WithRank(0, s));
    return absl::OkStatus();
  }
  if (auto s = executors_[0]->StepWithBlockTables(batch, cache.block_tables()); !s.ok()) {
    return Fail(WithRank(0, s));
  }
  return absl::OkStatus();
}

absl::Status RankGroup::RunFollower() {
  if (!distributed() || is_leader()) {
    return absl::FailedPreconditionError("RunFollower() is for ranks other than 0 of a distributed group");
  }
  StepExecutor& executor = *executors_[0];
  const KvCache& cache = executor.kv_cache();
  const int64_t table_entries = int64_t{cache.shape().max_sequences} * cache.max_blocks_per_sequence();
  const auto* limits = executor.plan().limits();
  while (failure_.ok()) {
    int32_t header[kHeaderInts] = {0, 0, 0, 0};
    if (auto s = comm_->Broadcast(header, sizeof(header), 0); !s.ok()) return Fail(WithRank(rank_, s));
    if (header[0] == kShutdown) {
      shut_down_ = true;
      return absl::OkStatus();
    }
    const int32_t t = header[1], r = header[2];
    if (header[0] != kStep || t < 1 || t > limits->max_batch_tokens() || r < 0 || r > t ||
        header[3] != table_entries) {
      return Fail(WithRank(rank_, absl::InternalError(absl::StrCat(
                                      "the leader's step header {", header[0], ", ", t, ", ", r, ", ",
                                      header[3], "} does not fit this rank's plan"))));
    }
    message_.resize(StepMessageInts(t, r, table_entries));
    if (auto s = comm_->Broadcast(message_.data(), message_.size() * sizeof(int32_t), 0); !s.ok()) {
      return Fail(WithRank(rank_, s));
    }
    const StepBatch batch = UnpackStepMessage(message_, t, r);
    if (auto s = executor.StepWithBlockTables(batch, StepMessageTables(message_, t, r)); !s.ok()) {
      return Fail(WithRank(rank_, s));
    }
  }
  return failure_;
}

absl::Status RankGroup::Shutdown() {
  if (!distributed() || !is_leader() || shut_down_ || !failure_.ok()) return absl::OkStatus();
  shut_down_ = true;
  int32_t header[kHeaderInts] = {kShutdown, 0, 0, 0};
  if (auto s = comm_->Broadcast(header, sizeof(header), 0); !s.ok()) return Fail(WithRank(0, s));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<RankGroup>> OpenRankGroup(const std::string& plan_dir,
                                                         const RankGroupOptions& options) {
  if (LaunchedByMpiLauncher()) {
#if BLOOM_HAVE_MPI
    BLOOM_ASSIGN_OR_RETURN(std::unique_ptr<MpiCommunicator> mpi, MpiCommunicator::Create());
    return RankGroup::CreateDistributed(plan_dir, std::move(mpi), options);
#else
    return absl::UnimplementedError(
        "started by mpirun, but this build has no MPI communicator (install libopenmpi-dev and "
        "rebuild with BLOOM_ENABLE_MPI)");
#endif
  }
  return RankGroup::CreateThreaded(plan_dir, options);
}

}  // namespace bloom
