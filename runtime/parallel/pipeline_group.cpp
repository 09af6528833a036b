#include "runtime/parallel/pipeline_group.h"

#include <sys/stat.h>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/comm/thread_communicator.h"
#include "runtime/plan/plan_loader.h"
#include "runtime/plan/plan_validator.h"
#include "runtime/plan/plan_version.h"
#include "runtime/support/status_macros.h"

namespace bloom {

// One step in flight: its own copy of the batch and of the block tables as
// they were at BeginStep, and its outcome once the last stage (or a failing
// one) has finished it. Shared by the engine thread and the stage threads.
struct PipelineStep {
  uint64_t number = 0;  // the order steps began in
  StepKind kind = StepKind::kLogits;
  std::vector<int32_t> token_ids, positions, sequence_slots, logit_rows, block_tables;
  std::vector<RowChoice> choice_rows;  // kChoose
  std::vector<int32_t> penalized_ids;  // kChoose

  StepBatch Batch() const { return StepBatch{token_ids, positions, sequence_slots, logit_rows}; }

  void Finish(absl::StatusOr<StepOutcome> result) {
    std::lock_guard<std::mutex> lock(mu);
    outcome = std::move(result);
    done = true;
    cv.notify_all();
  }
  absl::StatusOr<StepOutcome> Wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [this] { return done; });
    return std::move(outcome);
  }

  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  absl::StatusOr<StepOutcome> outcome;
};

// A thread that runs one stage's part of every step, in the order the steps
// reach it.
class StageWorker {
 public:
  explicit StageWorker(std::function<void(const std::shared_ptr<PipelineStep>&)> run)
      : run_(std::move(run)), thread_([this] { Loop(); }) {}
  // Steps still queued are dropped: the group is going away.
  ~StageWorker() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Post(std::shared_ptr<PipelineStep> step) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(step));
    }
    cv_.notify_all();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return !queue_.empty() || quit_; });
      if (quit_) return;
      std::shared_ptr<PipelineStep> step = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      run_(step);
      lock.lock();
    }
  }

  std::function<void(const std::shared_ptr<PipelineStep>&)> run_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<PipelineStep>> queue_;
  bool quit_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

namespace {

bool FileExists(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0;
}

// The hidden state's tensor of `role` in a stage's plan, or null.
const plan::Tensor* HiddenTensor(const plan::Plan& p, plan::TensorRole role) {
  const uint32_t index = FindTensorWithRole(p, role);
  return index == kNoTensor ? nullptr : p.tensors()->Get(index);
}

// What every stage must agree on with stage 0 to run one pipeline: its
// position, the tp size, the limits and the KV cache's slot and block
// geometry (each stage's pools hold its own layers, so their count differs).
absl::Status CheckStageAgrees(const plan::Plan& first, const plan::Plan& p, int stage, int pp,
                              const std::string& label) {
  const auto* a = first.limits();
  const auto* b = p.limits();
  if (p.pp_size() != pp || p.pp_stage() != stage || p.tp_size() != first.tp_size() ||
      a->max_batch_tokens() != b->max_batch_tokens() || a->max_seq_len() != b->max_seq_len() ||
      a->max_sequences() != b->max_sequences() || a->max_logit_rows() != b->max_logit_rows() ||
      first.kv_cache()->block_size() != p.kv_cache()->block_size() ||
      first.kv_cache()->num_blocks() != p.kv_cache()->num_blocks()) {
    return absl::FailedPreconditionError(absl::StrCat(
        label, ": its pipeline position, tp_size, limits or KV-cache geometry differ from stage "
        "0's; the plan directory mixes files of different compilations"));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsPipelineDirectory(const std::string& plan_dir) {
  return FileExists(absl::StrCat(plan_dir, "/", plan::StagePlanFileName(0, 0)));
}

absl::StatusOr<std::unique_ptr<PipelineGroup>> PipelineGroup::CreateThreaded(
    const std::string& plan_dir, const PipelineGroupOptions& options) {
  BLOOM_ASSIGN_OR_RETURN(LoadedPlan first, LoadedPlan::LoadStage(plan_dir, 0, 0));
  const int pp = first.plan().pp_size();
  if (options.num_stages != 0 && options.num_stages != pp) {
    return absl::FailedPreconditionError(absl::StrCat(
        first.label(), ": the plan is for pp=", pp, " but ", options.num_stages,
        " stage(s) were asked for; start exactly ", pp));
  }
  const std::string extra = absl::StrCat(plan_dir, "/", plan::StagePlanFileName(pp, 0));
  if (FileExists(extra)) {
    return absl::FailedPreconditionError(absl::StrCat(
        extra, ": present, but stage 0's plan is for pp=", pp,
        "; the plan directory mixes files of different compilations"));
  }

  std::unique_ptr<PipelineGroup> group(new PipelineGroup());
  // The stages load side by side (each its ranks side by side): loading
  // involves no communication between stages, so a failed stage cannot
  // leave another waiting. The lowest failed stage's error is reported.
  std::vector<absl::StatusOr<std::unique_ptr<RankGroup>>> stages(pp);
  {
    std::vector<std::thread> loaders;
    for (int s = 0; s < pp; ++s) {
      loaders.emplace_back([&, s] {
        RankGroupOptions ranks = options.ranks;
        ranks.pp_stage = s;
        ranks.first_local_rank = options.ranks.first_local_rank + s * first.plan().tp_size();
        ranks.local_ranks = std::max(options.ranks.local_ranks, pp * first.plan().tp_size());
        if (s != 0) ranks.executor.on_weight_loaded = nullptr;
        stages[s] = RankGroup::CreateThreaded(plan_dir, ranks);
      });
    }
    for (std::thread& loader : loaders) loader.join();
  }
  for (int s = 0; s < pp; ++s) {
    if (!stages[s].ok()) {
      return absl::Status(stages[s].status().code(),
                          absl::StrCat("pipeline stage ", s, ": ", stages[s].status().message()));
    }
    BLOOM_RETURN_IF_ERROR(CheckStageAgrees(first.plan(), (*stages[s])->plan(), s, pp,
                                           absl::StrCat(plan_dir, "/", plan::StagePlanFileName(s, 0))));
    group->stages_.push_back(*std::move(stages[s]));
  }
  // Stage S's hidden state out must be what stage S + 1 takes in.
  group->hidden_row_bytes_.assign(pp, 0);
  for (int s = 1; s < pp; ++s) {
    const plan::Tensor* out = HiddenTensor(group->stages_[s - 1]->plan(), plan::TensorRole::HiddenOut);
    const plan::Tensor* in = HiddenTensor(group->stages_[s]->plan(), plan::TensorRole::HiddenIn);
    if (out == nullptr || in == nullptr || out->dtype() != in->dtype() ||
        out->shape()->Get(1) != in->shape()->Get(1)) {
      return absl::FailedPreconditionError(absl::StrCat(
          plan_dir, ": the hidden state stage ", s - 1, " ends with is not what stage ", s,
          " starts from (dtype or width); recompile the directory"));
    }
    group->hidden_row_bytes_[s] = TensorRowBytes(*in);
  }
  group->hidden_in_.resize(pp);
  for (auto& link : ThreadCommunicator::CreateGroup(pp, options.ranks.collective_timeout)) {
    group->links_.push_back(std::move(link));
  }
  PipelineGroup* g = group.get();
  for (int s = 0; s < pp; ++s) {
    group->workers_.push_back(std::make_unique<StageWorker>(
        [g, s](const std::shared_ptr<PipelineStep>& step) { g->RunStage(s, step); }));
  }
  return group;
}

PipelineGroup::~PipelineGroup() {
  // A stage may be waiting for hidden state of a step that will never come.
  if (!in_flight_.empty()) {
    for (auto& link : links_) link->Abort(absl::CancelledError("the pipeline group was destroyed"));
  }
  workers_.clear();  // joins the stage threads before what they use goes
}

std::string PipelineGroup::device_name() const {
  return absl::StrCat(stages_.front()->local_executor(0).device_name(), " (pp=", pp_size(),
                      " x tp=", tp_size(), ", threads)");
}

int64_t PipelineGroup::peak_device_bytes() const {
  int64_t peak = 0;
  for (const auto& stage : stages_) peak = std::max(peak, stage->peak_device_bytes());
  return peak;
}

WeightStreamStats PipelineGroup::weight_stream_totals() const {
  WeightStreamStats sum;
  for (const auto& stage : stages_) {
    const WeightStreamStats one = stage->weight_stream_totals();
    sum.bytes += one.bytes;
    sum.units += one.units;
    sum.fill_seconds += one.fill_seconds;
    sum.wait_seconds += one.wait_seconds;
  }
  return sum;
}

absl::Status PipelineGroup::failure() const {
  std::lock_guard<std::mutex> lock(failure_mu_);
  return failure_;
}

absl::Status PipelineGroup::Fail(absl::Status cause, uint64_t step) {
  std::lock_guard<std::mutex> lock(failure_mu_);
  if (failure_.ok()) {
    failure_ = std::move(cause);
    failed_step_ = step;
  }
  return failure_;
}

absl::Status PipelineGroup::FailureFor(uint64_t step) const {
  std::lock_guard<std::mutex> lock(failure_mu_);
  return step >= failed_step_ ? failure_ : absl::OkStatus();
}

absl::Status PipelineGroup::BeginStep(const StepBatch& batch, StepKind kind,
                                      const TokenChoices* choices) {
  BLOOM_RETURN_IF_ERROR(failure());
  if ((kind == StepKind::kGreedy && !has_greedy_step()) ||
      (kind == StepKind::kChoose && !has_device_choice())) {
    return absl::UnimplementedError(absl::StrCat(
        "the pipeline's last stage (", device_name(),
        ") chooses no tokens on its device; choose them on the host (StepKind::kLogits)"));
  }
  if (kind == StepKind::kChoose && choices == nullptr) {
    return absl::InvalidArgumentError("BeginStep(kChoose) without token choices");
  }
  if (static_cast<int>(in_flight_.size()) >= max_steps_in_flight()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "BeginStep with ", in_flight_.size(), " steps in flight; a pipeline of ", pp_size(),
        " stages holds at most that many: FinishStep the oldest first"));
  }
  // Against the pipeline's KvCache and stage 0's embedding, before any
  // stage sees it: bad input leaves the group intact.
  BLOOM_RETURN_IF_ERROR(stages_.front()->CheckBatch(batch));
  auto step = std::make_shared<PipelineStep>();
  step->number = next_step_++;
  step->kind = kind;
  if (kind == StepKind::kChoose) {
    step->choice_rows.assign(choices->rows.begin(), choices->rows.end());
    step->penalized_ids.assign(choices->penalized_ids.begin(), choices->penalized_ids.end());
  }
  step->token_ids.assign(batch.token_ids.begin(), batch.token_ids.end());
  step->positions.assign(batch.positions.begin(), batch.positions.end());
  step->sequence_slots.assign(batch.sequence_slots.begin(), batch.sequence_slots.end());
  step->logit_rows.assign(batch.logit_rows.begin(), batch.logit_rows.end());
  const KvCache& cache = kv_cache();
  const size_t entries =
      static_cast<size_t>(cache.shape().max_sequences) * cache.max_blocks_per_sequence();
  step->block_tables.assign(cache.block_tables(), cache.block_tables() + entries);
  in_flight_.push_back(step);
  workers_.front()->Post(std::move(step));
  return absl::OkStatus();
}

absl::StatusOr<StepOutcome> PipelineGroup::FinishStep() {
  if (in_flight_.empty()) {
    return absl::FailedPreconditionError("FinishStep with no step in flight");
  }
  std::shared_ptr<PipelineStep> step = std::move(in_flight_.front());
  in_flight_.pop_front();
  return step->Wait();
}

absl::Status PipelineGroup::Step(const StepBatch& batch) {
  return StepAlone(batch, StepKind::kLogits, nullptr, in_flight_.size(), "a step alone",
                   last_outcome_);
}

absl::StatusOr<absl::Span<const int32_t>> PipelineGroup::StepGreedy(const StepBatch& batch) {
  BLOOM_RETURN_IF_ERROR(StepAlone(batch, StepKind::kGreedy, nullptr, in_flight_.size(),
                                  "a step alone", last_outcome_));
  return absl::MakeConstSpan(last_outcome_.ids);
}

absl::StatusOr<ChosenTokens> PipelineGroup::StepAndChoose(const StepBatch& batch,
                                                          const TokenChoices& choices) {
  BLOOM_RETURN_IF_ERROR(StepAlone(batch, StepKind::kChoose, &choices, in_flight_.size(),
                                  "a step alone", last_outcome_));
  return ChosenTokens{last_outcome_.ids, last_outcome_.logprobs};
}

void PipelineGroup::RunStage(int s, const std::shared_ptr<PipelineStep>& step) {
  const int last = pp_size() - 1;
  auto fail = [&](const absl::Status& cause) {
    step->Finish(Fail(absl::Status(cause.code(),
                                   absl::StrCat("pipeline stage ", s, ": ", cause.message())),
                      step->number));
  };
  if (absl::Status failed = FailureFor(step->number); !failed.ok()) {
    step->Finish(failed);
    return;
  }
  StepBatch batch = step->Batch();
  if (s > 0) {
    std::vector<uint8_t>& hidden = hidden_in_[s];
    hidden.resize(step->token_ids.size() * hidden_row_bytes_[s]);
    if (absl::Status got = links_[s]->Recv(hidden.data(), hidden.size(), s - 1); !got.ok()) {
      return fail(got);
    }
    batch.hidden_in = hidden;
  }
  RankGroup& stage = *stages_[s];
  const int32_t* tables = step->block_tables.data();
  StepOutcome outcome;
  if (s == last && step->kind == StepKind::kGreedy) {
    absl::StatusOr<absl::Span<const int32_t>> ids = stage.StepGreedyWithBlockTables(batch, tables);
    if (!ids.ok()) return fail(ids.status());
    outcome.ids.assign(ids->begin(), ids->end());
    step->Finish(std::move(outcome));
    return;
  }
  if (s == last && step->kind == StepKind::kChoose) {
    absl::StatusOr<ChosenTokens> chosen = stage.StepAndChooseWithBlockTables(
        batch, TokenChoices{step->choice_rows, step->penalized_ids}, tables);
    if (!chosen.ok()) return fail(chosen.status());
    outcome.ids.assign(chosen->ids.begin(), chosen->ids.end());
    outcome.logprobs.assign(chosen->logprobs.begin(), chosen->logprobs.end());
    step->Finish(std::move(outcome));
    return;
  }
  if (absl::Status ran = stage.StepWithBlockTables(batch, tables); !ran.ok()) {
    return fail(ran);
  }
  if (s < last) {
    const absl::Span<const uint8_t> hidden = stage.hidden_out();
    if (absl::Status sent = links_[s]->Send(hidden.data(), hidden.size(), s + 1); !sent.ok()) {
      return fail(sent);
    }
    workers_[s + 1]->Post(step);
    return;
  }
  const absl::Span<const float> logits = stage.logits();
  outcome.logits.assign(logits.begin(), logits.end());
  step->Finish(std::move(outcome));
}

}  // namespace bloom
