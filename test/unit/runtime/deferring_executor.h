// A StepExecutor that keeps steps in flight for the engine's tests
// (engine_in_flight_test.cpp), over a real backend (the CPU executor): its
// BeginStep copies the batch, the token choices and the KV cache's block
// tables and queues the step; its FinishStep runs the oldest queued step on
// the wrapped executor with those copied tables. So steps really are
// deferred, and interleaved with the engine's packing of other steps, as a
// pipeline of M stages would have them.
//
// It checks the engine's side of the contract in executor.h, failing the
// test (ADD_FAILURE) where it is broken:
//   - at most max_steps_in_flight() steps at once, and no sequence slot in
//     two of them;
//   - when a step runs, each of its slots is still active in the KV cache
//     with the reservation and block table it had when the step began (a
//     slot freed or grown while its step was in flight would show here).
// The CPU backend has no device token choice, so kGreedy is served by the
// argmax of the CPU logits and kChoose by ChooseRows
// (reference_token_choice.h): what a device
// would do, enough to check the engine's plumbing of step kinds.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "runtime/exec/executor.h"
#include "runtime/serve/sampler.h"
#include "test/unit/runtime/reference_token_choice.h"

namespace bloom::testing {

class DeferringExecutor : public StepExecutor {
 public:
  DeferringExecutor(std::unique_ptr<StepExecutor> inner, int max_in_flight)
      : inner_(std::move(inner)), max_in_flight_(max_in_flight) {}

  // One step at a time is not what the engine should use here.
  absl::Status Step(const StepBatch&) override {
    ADD_FAILURE() << "Step called on an executor with steps in flight";
    return absl::InternalError("deferred: Step called");
  }
  absl::Span<const float> logits() const override { return inner_->logits(); }
  const plan::Plan& plan() const override { return inner_->plan(); }
  KvCache& kv_cache() override { return inner_->kv_cache(); }
  std::string device_name() const override { return "deferred " + inner_->device_name(); }
  int64_t peak_device_bytes() const override { return inner_->peak_device_bytes(); }

  int max_steps_in_flight() const override { return max_in_flight_; }

  absl::Status BeginStep(const StepBatch& batch, StepKind kind,
                         const TokenChoices* choices) override {
    if (static_cast<int>(queue_.size()) >= max_in_flight_) {
      ADD_FAILURE() << "a step begun with " << queue_.size() << " in flight";
      return absl::FailedPreconditionError("deferred: too many steps in flight");
    }
    if (absl::Status s = CheckStepBatch(plan(), kv_cache(), batch); !s.ok()) return s;
    for (int32_t slot : batch.sequence_slots) {
      for (const Pending& p : queue_) {
        if (p.slots.count(slot) > 0) {
          ADD_FAILURE() << "slot " << slot << " begins a step while in another in flight";
          return absl::FailedPreconditionError("deferred: a slot in two steps");
        }
      }
    }
    ++begun_;
    if (begun_ == fail_begin_at) return absl::InternalError("deferred: BeginStep failed");
    Pending p;
    p.token_ids.assign(batch.token_ids.begin(), batch.token_ids.end());
    p.positions.assign(batch.positions.begin(), batch.positions.end());
    p.sequence_slots.assign(batch.sequence_slots.begin(), batch.sequence_slots.end());
    p.logit_rows.assign(batch.logit_rows.begin(), batch.logit_rows.end());
    p.slots.insert(batch.sequence_slots.begin(), batch.sequence_slots.end());
    const KvCache& cache = inner_->kv_cache();
    p.block_tables.assign(
        cache.block_tables(),
        cache.block_tables() + cache.shape().max_sequences * cache.max_blocks_per_sequence());
    for (int32_t slot : p.slots) p.reserved.push_back(cache.ReservedPositions(slot));
    p.kind = kind;
    if (kind == StepKind::kChoose) {
      if (choices == nullptr) {
        return absl::InvalidArgumentError("deferred: kChoose without choices");
      }
      p.rows.assign(choices->rows.begin(), choices->rows.end());
      p.penalized_ids.assign(choices->penalized_ids.begin(), choices->penalized_ids.end());
    }
    queue_.push_back(std::move(p));
    most_in_flight_ = std::max(most_in_flight_, static_cast<int>(queue_.size()));
    ++kinds_begun_[static_cast<int>(kind)];
    return absl::OkStatus();
  }

  absl::StatusOr<StepOutcome> FinishStep() override {
    if (queue_.empty()) return absl::FailedPreconditionError("deferred: nothing in flight");
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    ++finished_;
    // After an injected failure the executor is "broken" until its queue
    // has drained: every step still in flight fails too.
    if (finished_ == fail_finish_at) {
      broken_ = true;
      failed_slots.insert(p.slots.begin(), p.slots.end());
      abandoned_at_failure = static_cast<int>(queue_.size());
    }
    if (broken_) {
      failed_slots.insert(p.slots.begin(), p.slots.end());
      if (queue_.empty()) broken_ = false;
      return absl::InternalError("deferred: FinishStep failed");
    }
    const KvCache& cache = inner_->kv_cache();
    const int32_t per_slot = cache.max_blocks_per_sequence();
    size_t k = 0;
    for (int32_t slot : p.slots) {
      const int32_t reserved = p.reserved[k++];
      const bool active = cache.IsActive(slot);
      const bool same_table = std::equal(cache.block_tables() + slot * per_slot,
                                         cache.block_tables() + (slot + 1) * per_slot,
                                         p.block_tables.begin() + slot * per_slot);
      if (!active || cache.ReservedPositions(slot) != reserved || !same_table) {
        ADD_FAILURE() << "slot " << slot << " changed while its step was in flight (active "
                      << active << ", " << cache.ReservedPositions(slot) << " positions reserved, "
                      << reserved << " when it began)";
        return absl::InternalError("deferred: a slot changed in flight");
      }
    }
    const StepBatch batch{p.token_ids, p.positions, p.sequence_slots, p.logit_rows};
    if (absl::Status s = CheckStepBatch(plan(), cache, batch); !s.ok()) return s;
    if (absl::Status s = inner_->StepWithBlockTables(batch, p.block_tables.data()); !s.ok()) {
      return s;
    }
    const absl::Span<const float> logits = inner_->logits();
    const int64_t vocab = vocab_size();
    StepOutcome outcome;
    switch (p.kind) {
      case StepKind::kLogits:
        outcome.logits.assign(logits.begin(), logits.end());
        break;
      case StepKind::kGreedy:
        for (size_t r = 0; r < p.logit_rows.size(); ++r) {
          outcome.ids.push_back(ArgMaxOf(logits.subspan(r * vocab, vocab)));
        }
        break;
      case StepKind::kChoose:
        outcome = ChooseRows(logits, vocab, TokenChoices{p.rows, p.penalized_ids});
        break;
    }
    return outcome;
  }

  int in_flight() const { return static_cast<int>(queue_.size()); }
  bool InFlight(int32_t slot) const {
    for (const Pending& p : queue_) {
      if (p.slots.count(slot) > 0) return true;
    }
    return false;
  }
  int most_in_flight() const { return most_in_flight_; }
  int kinds_begun(StepKind kind) const { return kinds_begun_[static_cast<int>(kind)]; }

  // The BeginStep / FinishStep (counted from 1) that fails; 0: none.
  int fail_begin_at = 0;
  int fail_finish_at = 0;
  // After the injected FinishStep failure: the slots of the failed steps
  // (it and those still in flight then), and how many were still in flight.
  std::set<int32_t> failed_slots;
  int abandoned_at_failure = -1;

 private:
  struct Pending {
    std::vector<int32_t> token_ids, positions, sequence_slots, logit_rows;
    std::set<int32_t> slots;
    std::vector<int32_t> block_tables;
    std::vector<int32_t> reserved;  // per slot of `slots`, in its order
    StepKind kind = StepKind::kLogits;
    std::vector<RowChoice> rows;
    std::vector<int32_t> penalized_ids;
  };

  std::unique_ptr<StepExecutor> inner_;
  const int max_in_flight_;
  std::deque<Pending> queue_;
  int begun_ = 0, finished_ = 0, most_in_flight_ = 0;
  bool broken_ = false;
  int kinds_begun_[3] = {0, 0, 0};
};

}  // namespace bloom::testing
