#include "runtime/parallel/distributed_pipeline.h"

#include "absl/strings/str_cat.h"
#include "runtime/comm/agree_on_status.h"
#include "runtime/parallel/launcher_env.h"
#include "runtime/parallel/step_message.h"
#include "runtime/plan/plan_validator.h"
#include "runtime/support/status_macros.h"
#if BLOOM_HAVE_MPI
#include "runtime/comm/mpi_communicator.h"
#endif

namespace bloom {
namespace {

// The leader's messages to every other rank: a header, then (kStep) one
// int32 payload of token ids, positions, slots, logit rows (T, T, T, R) and
// the block tables.
enum Command : int32_t { kStep = 1, kShutdown = 2 };
constexpr int kHeaderInts = 4;  // command, T, R, block-table entries

}  // namespace

absl::StatusOr<std::unique_ptr<DistributedPipeline>> DistributedPipeline::Create(
    const std::string& plan_dir, std::unique_ptr<Communicator> world, const RankGroupOptions& options) {
  std::unique_ptr<DistributedPipeline> group(new DistributedPipeline());
  DistributedPipeline& g = *group;
  g.rank_ = world->rank();
  // Every rank reads the mesh from stage 0's plan, so that all reach the
  // same verdict on the process count without a collective.
  BLOOM_ASSIGN_OR_RETURN(LoadedPlan first, LoadedPlan::LoadStage(plan_dir, 0, 0));
  g.pp_ = first.plan().pp_size();
  g.tp_ = first.plan().tp_size();
  if (world->size() != g.pp_ * g.tp_) {
    return absl::FailedPreconditionError(absl::StrCat(
        plan_dir, ": the plan directory is for pp=", g.pp_, " x tp=", g.tp_, " = ", g.pp_ * g.tp_,
        " ranks but was started with ", world->size(), " (", world->transport(), "); start exactly ",
        g.pp_ * g.tp_));
  }
  g.stage_ = g.rank_ / g.tp_;
  g.tp_rank_ = g.rank_ % g.tp_;
  BLOOM_ASSIGN_OR_RETURN(g.stage_comm_, world->Split(g.stage_, g.tp_rank_));
  g.world_ = std::move(world);

  absl::Status local = [&]() -> absl::Status {
    BLOOM_ASSIGN_OR_RETURN(LoadedPlan plan, LoadedPlan::LoadStage(plan_dir, g.stage_, g.tp_rank_));
    const plan::Plan& p = plan.plan();
    if (p.pp_size() != g.pp_ || p.tp_size() != g.tp_) {
      return absl::FailedPreconditionError(absl::StrCat(
          plan.label(), ": is for pp=", p.pp_size(), " x tp=", p.tp_size(), ", stage 0's for pp=", g.pp_,
          " x tp=", g.tp_, "; the plan directory mixes files of different compilations"));
    }
    if (g.stage_ > 0) {
      g.hidden_row_bytes_ =
          TensorRowBytes(*p.tensors()->Get(TensorWithRole(p, plan::TensorRole::HiddenIn)));
    }
    if (g.is_leader()) {
      BLOOM_ASSIGN_OR_RETURN(g.output_plan_, LoadedPlan::LoadOutputPlan(plan_dir));
      g.embedding_vocab_ = EmbeddingVocab(p);
    }
    if (!options.make_executor) return absl::InvalidArgumentError("RankGroupOptions::make_executor is not set");
    ExecutorOptions executor_options = options.executor;
    if (!g.is_leader()) executor_options.on_weight_loaded = nullptr;
    const RankPlacement placement{MpiLauncherLocalRank(), MpiLauncherLocalSize()};
    BLOOM_ASSIGN_OR_RETURN(g.executor_, options.make_executor(std::move(plan), executor_options,
                                                              *g.stage_comm_, placement));
    return absl::OkStatus();
  }();
  if (!local.ok()) {
    local = absl::Status(local.code(), absl::StrCat("pipeline stage ", g.stage_, ", tp rank ", g.tp_rank_,
                                                    ": ", local.message()));
  }
  BLOOM_RETURN_IF_ERROR(AgreeOnStatus(*g.world_, local));
  if (g.stage_ == g.pp_ - 1 && g.tp_rank_ == 0) g.logits_out_.resize(g.pp_);
  if (g.is_leader()) g.step_messages_.resize(g.pp_);
  g.shut_down_ = false;  // from here on the leader owes the followers a Shutdown()
  return group;
}

DistributedPipeline::~DistributedPipeline() {
  if (is_leader() && failure_.ok()) Shutdown().IgnoreError();
}

std::string DistributedPipeline::device_name() const {
  return absl::StrCat(executor_->device_name(), " (pp=", pp_, " x tp=", tp_, ", rank ", rank_, ", ",
                      world_->transport(), ")");
}

absl::Status DistributedPipeline::Fail(const absl::Status& cause) {
  failure_ = absl::Status(cause.code(), absl::StrCat("rank ", rank_, ": pipeline stage ", stage_,
                                                     ", tp rank ", tp_rank_, ": ", cause.message()));
  // The stage's peers may wait in one of its collectives, the other
  // stages in the job's point to point: both groups are poisoned (under MPI
  // the first Abort ends the job and does not return).
  stage_comm_->Abort(failure_);
  world_->Abort(failure_);
  return failure_;
}

absl::Status DistributedPipeline::RunPosition(StepBatch batch, const int32_t* tables) {
  if (stage_ > 0) {
    hidden_.resize(batch.token_ids.size() * hidden_row_bytes_);
    BLOOM_RETURN_IF_ERROR(world_->Recv(hidden_.data(), hidden_.size(), rank_ - tp_));
    batch.hidden_in = hidden_;
  }
  // The last stage's rank 0: the previous step's logits must have reached
  // the leader before this step computes. Without an MPI progress thread a
  // large non-blocking send moves only while its sender is inside MPI, so a
  // send left pending through the step would make the leader's FinishStep
  // wait for the whole step, and no two steps would overlap. The leader
  // receives it in its next FinishStep, which needs nothing from this rank.
  while (!logits_out_.empty() && world_->pending_sends() > 0) {
    BLOOM_RETURN_IF_ERROR(world_->WaitOldestSend());
  }
  BLOOM_RETURN_IF_ERROR(executor_->StepWithBlockTables(batch, tables));
  if (stage_ < pp_ - 1) {
    const absl::Span<const uint8_t> hidden = executor_->hidden_out();
    return world_->Send(hidden.data(), hidden.size(), rank_ + tp_);
  }
  if (tp_rank_ != 0) return absl::OkStatus();
  // Buffers are used in turn, and sends complete oldest first: when as many
  // sends as buffers are pending, the oldest is this buffer's.
  while (world_->pending_sends() >= static_cast<int>(logits_out_.size())) {
    BLOOM_RETURN_IF_ERROR(world_->WaitOldestSend());
  }
  std::vector<float>& out = logits_out_[next_logits_out_];
  next_logits_out_ = (next_logits_out_ + 1) % logits_out_.size();
  const absl::Span<const float> logits = executor_->logits();
  out.assign(logits.begin(), logits.end());
  return world_->SendWithoutWaiting(out.data(), out.size() * sizeof(float), 0);
}

absl::Status DistributedPipeline::BeginStep(const StepBatch& batch, StepKind kind, const TokenChoices*) {
  if (!failure_.ok()) return failure_;
  if (!is_leader()) {
    return absl::FailedPreconditionError(
        absl::StrCat("BeginStep on rank ", rank_, "; ranks other than 0 run RunFollower()"));
  }
  if (shut_down_) return absl::FailedPreconditionError("BeginStep after Shutdown()");
  if (kind != StepKind::kLogits) {
    return absl::UnimplementedError(
        "a pipeline's last stage returns logits; choose the tokens on the host (StepKind::kLogits)");
  }
  if (static_cast<int>(in_flight_rows_.size()) >= pp_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "BeginStep with ", in_flight_rows_.size(), " steps in flight; a pipeline of ", pp_,
        " stages holds at most that many: FinishStep the oldest first"));
  }
  // The caller's errors leave the group intact: checked before any rank
  // sees the batch.
  BLOOM_RETURN_IF_ERROR(CheckStepBatch(executor_->plan(), kv_cache(), batch));
  BLOOM_RETURN_IF_ERROR(CheckTokenIds(batch, embedding_vocab_));
  const KvCache& cache = kv_cache();
  const int32_t entries = cache.shape().max_sequences * cache.max_blocks_per_sequence();
  const int32_t t = static_cast<int32_t>(batch.token_ids.size());
  const int32_t r = static_cast<int32_t>(batch.logit_rows.size());
  const int32_t header[kHeaderInts] = {kStep, t, r, entries};
  // The payload (block tables included: larger than MPI's eager limit) goes
  // without waiting: a blocking send would wait for every rank to finish
  // the step it is running before this step's stage 0 could start, and no
  // two steps would overlap. Each step in flight has its own buffer; the
  // one reused now was sent pp steps ago, and its sends (the oldest) must
  // be complete first.
  const int peers = world_->size() - 1;
  while (world_->pending_sends() > (pp_ - 1) * peers) {
    if (auto s = world_->WaitOldestSend(); !s.ok()) return Fail(s);
  }
  std::vector<int32_t>& payload = step_messages_[next_step_message_];
  next_step_message_ = (next_step_message_ + 1) % step_messages_.size();
  PackStepMessage(batch, cache.block_tables(), entries, payload);
  for (int peer = 1; peer < world_->size(); ++peer) {
    if (auto s = world_->Send(header, sizeof(header), peer); !s.ok()) return Fail(s);
    if (auto s = world_->SendWithoutWaiting(payload.data(), payload.size() * sizeof(int32_t), peer);
        !s.ok()) {
      return Fail(s);
    }
  }
  if (auto s = RunPosition(batch, cache.block_tables()); !s.ok()) return Fail(s);
  in_flight_rows_.push_back(r);
  return absl::OkStatus();
}

absl::StatusOr<StepOutcome> DistributedPipeline::FinishStep() {
  if (!failure_.ok()) return failure_;
  if (in_flight_rows_.empty()) return absl::FailedPreconditionError("FinishStep with no step in flight");
  const int32_t rows = in_flight_rows_.front();
  in_flight_rows_.pop_front();
  StepOutcome outcome;
  outcome.logits.resize(static_cast<size_t>(rows) * vocab_size());
  if (auto s = world_->Recv(outcome.logits.data(), outcome.logits.size() * sizeof(float), (pp_ - 1) * tp_);
      !s.ok()) {
    return Fail(s);
  }
  return outcome;
}

absl::Status DistributedPipeline::Step(const StepBatch& batch) {
  return StepAlone(batch, StepKind::kLogits, nullptr, in_flight_rows_.size(), "Step()",
                   last_outcome_);
}

absl::Status DistributedPipeline::RunFollower() {
  if (is_leader()) return absl::FailedPreconditionError("RunFollower() is for ranks other than 0");
  const auto* limits = executor_->plan().limits();
  const KvCache& cache = executor_->kv_cache();
  const int64_t entries = int64_t{cache.shape().max_sequences} * cache.max_blocks_per_sequence();
  while (failure_.ok()) {
    int32_t header[kHeaderInts] = {0, 0, 0, 0};
    if (auto s = world_->Recv(header, sizeof(header), 0); !s.ok()) return Fail(s);
    if (header[0] == kShutdown) {
      shut_down_ = true;
      if (logits_out_.empty()) return absl::OkStatus();
      // The leader received every step's logits before shutting down.
      while (world_->pending_sends() > 0) {
        if (auto s = world_->WaitOldestSend(); !s.ok()) return Fail(s);
      }
      return absl::OkStatus();
    }
    const int32_t t = header[1], r = header[2];
    if (header[0] != kStep || t < 1 || t > limits->max_batch_tokens() || r < 0 || r > t ||
        header[3] != entries) {
      return Fail(absl::InternalError(absl::StrCat("the leader's step header {", header[0], ", ", t, ", ",
                                                   r, ", ", header[3], "} does not fit this rank's plan")));
    }
    message_.resize(StepMessageInts(t, r, entries));
    if (auto s = world_->Recv(message_.data(), message_.size() * sizeof(int32_t), 0); !s.ok()) {
      return Fail(s);
    }
    if (auto s = RunPosition(UnpackStepMessage(message_, t, r), StepMessageTables(message_, t, r));
        !s.ok()) {
      return Fail(s);
    }
  }
  return failure_;
}

absl::Status DistributedPipeline::Shutdown() {
  if (!is_leader() || shut_down_ || !failure_.ok()) return absl::OkStatus();
  shut_down_ = true;
  // Steps still in flight are received first: the last stage's sends of
  // their logits must complete.
  while (!in_flight_rows_.empty()) {
    if (auto outcome = FinishStep(); !outcome.ok()) return outcome.status();
  }
  const int32_t header[kHeaderInts] = {kShutdown, 0, 0, 0};
  for (int peer = 1; peer < world_->size(); ++peer) {
    if (auto s = world_->Send(header, sizeof(header), peer); !s.ok()) return Fail(s);
  }
  while (world_->pending_sends() > 0) {
    if (auto s = world_->WaitOldestSend(); !s.ok()) return Fail(s);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DistributedPipeline>> OpenDistributedPipeline(
    const std::string& plan_dir, const RankGroupOptions& options) {
#if BLOOM_HAVE_MPI
  BLOOM_ASSIGN_OR_RETURN(std::unique_ptr<MpiCommunicator> mpi, MpiCommunicator::Create());
  return DistributedPipeline::Create(plan_dir, std::move(mpi), options);
#else
  (void)plan_dir;
  (void)options;
  return absl::UnimplementedError(
      "started by mpirun, but this build has no MPI communicator (install libopenmpi-dev and "
      "rebuild with BLOOM_ENABLE_MPI)");
#endif
}

}  // namespace bloom
