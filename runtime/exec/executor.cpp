#include "runtime/exec/executor.h"

#include "absl/strings/str_cat.h"
#include "runtime/plan/plan_validator.h"
#include "runtime/support/status_macros.h"

namespace bloom {

int64_t StepExecutor::vocab_size() const {
  const uint32_t logits = FindTensorWithRole(plan(), plan::TensorRole::Logits);
  return logits == kNoTensor ? 0 : plan().tensors()->Get(logits)->shape()->Get(1);
}

absl::Status StepExecutor::StepWithBlockTables(const StepBatch&, const int32_t*) {
  return absl::UnimplementedError(
      absl::StrCat(device_name(), ": this backend does not run tensor-parallel ranks"));
}

absl::StatusOr<absl::Span<const int32_t>> StepExecutor::StepGreedy(const StepBatch&) {
  return absl::UnimplementedError(absl::StrCat(device_name(), ": no on-device greedy step"));
}

absl::StatusOr<ChosenTokens> StepExecutor::StepAndChoose(const StepBatch&, const TokenChoices&) {
  return absl::UnimplementedError(absl::StrCat(device_name(), ": no on-device token choice"));
}

absl::StatusOr<absl::Span<const int32_t>> StepExecutor::StepGreedyWithBlockTables(
    const StepBatch&, const int32_t*) {
  return absl::UnimplementedError(
      absl::StrCat(device_name(), ": no on-device greedy step with another cache's block tables"));
}

absl::StatusOr<ChosenTokens> StepExecutor::StepAndChooseWithBlockTables(const StepBatch&,
                                                                        const TokenChoices&,
                                                                        const int32_t*) {
  return absl::UnimplementedError(
      absl::StrCat(device_name(), ": no on-device token choice with another cache's block tables"));
}

absl::Status StepExecutor::BeginStep(const StepBatch& batch, StepKind kind,
                                     const TokenChoices* choices) {
  if (!finished_steps_.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        device_name(), ": runs one step at a time; FinishStep the step begun before"));
  }
  StepOutcome outcome;
  absl::Status ran;
  switch (kind) {
    case StepKind::kLogits:
      ran = Step(batch);
      if (ran.ok()) outcome.logits.assign(logits().begin(), logits().end());
      break;
    case StepKind::kGreedy: {
      absl::StatusOr<absl::Span<const int32_t>> ids = StepGreedy(batch);
      ran = ids.status();
      if (ran.ok()) outcome.ids.assign(ids->begin(), ids->end());
      break;
    }
    case StepKind::kChoose: {
      if (choices == nullptr) {
        ran = absl::InvalidArgumentError("BeginStep(kChoose) without token choices");
        break;
      }
      absl::StatusOr<ChosenTokens> chosen = StepAndChoose(batch, *choices);
      ran = chosen.status();
      if (ran.ok()) {
        outcome.ids.assign(chosen->ids.begin(), chosen->ids.end());
        outcome.logprobs.assign(chosen->logprobs.begin(), chosen->logprobs.end());
      }
      break;
    }
  }
  if (!ran.ok()) return ran;
  finished_steps_.push_back(std::move(outcome));
  return absl::OkStatus();
}

absl::StatusOr<StepOutcome> StepExecutor::FinishStep() {
  if (finished_steps_.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(device_name(), ": FinishStep with no step begun"));
  }
  absl::StatusOr<StepOutcome> outcome = std::move(finished_steps_.front());
  finished_steps_.pop_front();
  return outcome;
}

absl::Status StepExecutor::StepAlone(const StepBatch& batch, StepKind kind,
                                     const TokenChoices* choices, size_t in_flight,
                                     absl::string_view what, StepOutcome& outcome) {
  if (in_flight > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " with ", in_flight, " steps in flight; FinishStep them first"));
  }
  outcome = StepOutcome();
  BLOOM_RETURN_IF_ERROR(BeginStep(batch, kind, choices));
  BLOOM_ASSIGN_OR_RETURN(outcome, FinishStep());
  return absl::OkStatus();
}

uint32_t FindTensorWithRole(const plan::Plan& plan, plan::TensorRole role) {
  const auto* tensors = plan.tensors();
  for (uint32_t i = 0; i < tensors->size(); ++i) {
    if (tensors->Get(i)->role() == role) return i;
  }
  return kNoTensor;
}

uint32_t TensorWithRole(const plan::Plan& plan, plan::TensorRole role) {
  const uint32_t index = FindTensorWithRole(plan, role);
  return index == kNoTensor ? 0 : index;  // kNoTensor is unreachable for a validated plan
}

absl::Status CheckStepShape(const plan::Plan& plan, const StepBatch& batch) {
  const int64_t t = static_cast<int64_t>(batch.token_ids.size());
  const auto* limits = plan.limits();
  if (t < 1 || t > limits->max_batch_tokens()) {
    return absl::InvalidArgumentError(absl::StrCat("a step holds ", t, " tokens; the plan allows 1 to ",
                                                   limits->max_batch_tokens()));
  }
  if (batch.positions.size() != batch.token_ids.size() ||
      batch.sequence_slots.size() != batch.token_ids.size()) {
    return absl::InvalidArgumentError("token ids, positions and sequence slots differ in length");
  }
  if (static_cast<int64_t>(batch.logit_rows.size()) > t ||
      static_cast<int64_t>(batch.logit_rows.size()) > limits->max_logit_rows()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a step asks for ", batch.logit_rows.size(), " logit rows; the plan allows at most ",
        limits->max_logit_rows(), " and no more than the step's ", t, " tokens"));
  }
  for (int32_t row : batch.logit_rows) {
    if (row < 0 || row >= t) {
      return absl::InvalidArgumentError(
          absl::StrCat("logit row ", row, " is outside the step's ", t, " tokens"));
    }
  }
  return CheckHiddenIn(plan, batch);
}

absl::Status CheckHiddenIn(const plan::Plan& plan, const StepBatch& batch) {
  const uint32_t hidden_in = FindTensorWithRole(plan, plan::TensorRole::HiddenIn);
  if (hidden_in == kNoTensor) {
    if (batch.hidden_in.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        "a step gave ", batch.hidden_in.size(),
        " bytes of hidden state to a plan that starts from token ids (pipeline stage ",
        plan.pp_stage(), " of ", plan.pp_size(), ")"));
  }
  const uint64_t want = batch.token_ids.size() * TensorRowBytes(*plan.tensors()->Get(hidden_in));
  if (batch.hidden_in.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pipeline stage ", plan.pp_stage(), " of ", plan.pp_size(), " needs ", want,
        " bytes of hidden state for the step's ", batch.token_ids.size(), " tokens, got ",
        batch.hidden_in.size()));
  }
  return absl::OkStatus();
}

absl::Status CheckStepBatch(const plan::Plan& plan, const KvCache& kv_cache, const StepBatch& batch) {
  BLOOM_RETURN_IF_ERROR(CheckStepShape(plan, batch));
  const int64_t t = static_cast<int64_t>(batch.token_ids.size());
  const auto* limits = plan.limits();
  for (int64_t i = 0; i < t; ++i) {
    const int32_t slot = batch.sequence_slots[i];
    if (slot < 0 || slot >= limits->max_sequences() || !kv_cache.IsActive(slot)) {
      return absl::InvalidArgumentError(absl::StrCat("token ", i, ": sequence slot ", slot,
                                                     " is not an active KV-cache sequence"));
    }
    const int32_t position = batch.positions[i];
    if (position < 0 || position >= kv_cache.ReservedPositions(slot)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token ", i, ": position ", position, " of slot ", slot,
          " has no reserved KV-cache space (", kv_cache.ReservedPositions(slot),
          " positions reserved)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace bloom
