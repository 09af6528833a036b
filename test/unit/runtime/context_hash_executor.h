// A fake step function for the scheduler and engine tests, whose logits
// depend on the whole context of each token (what a KV cache holds), so any
// slip in positions, slots, chunking or KV bookkeeping changes the output;
// and a naive greedy loop written directly against the same logits, the
// reference those tests hold the batched paths to.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "runtime/exec/executor.h"
#include "runtime/plan/plan_loader.h"
#include "test/unit/runtime/test_plan.h"

namespace bloom::testing {

// The logits after `context` (tokens 0..p of one sequence): a hash of the
// context and the candidate id. Ties are rare but legal (ArgMax takes the
// first).
inline std::vector<float> ContextLogits(absl::Span<const int32_t> context) {
  std::vector<float> logits(kVocab);
  for (int v = 0; v < kVocab; ++v) {
    uint64_t h = 1469598103934665603ull;
    for (int32_t t : context) h = (h ^ static_cast<uint64_t>(t + 1)) * 1099511628211ull;
    h = (h ^ static_cast<uint64_t>(v + 101)) * 1099511628211ull;
    logits[v] = static_cast<float>((h >> 20) % 10007) / 1000.0f - 5.0f;
  }
  return logits;
}

// Greedy generation written directly against ContextLogits.
inline std::vector<int32_t> NaiveGreedy(std::vector<int32_t> context, int n, int32_t eos = -1,
                                        int min_new = 0) {
  std::vector<int32_t> out;
  while (static_cast<int>(out.size()) < n) {
    std::vector<float> logits = ContextLogits(context);
    if (eos >= 0 && static_cast<int>(out.size()) < min_new) logits[eos] = -1e30f;
    const int32_t next =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(next);
    context.push_back(next);
    if (next == eos) break;
  }
  return out;
}

// A StepExecutor whose "KV cache" stores tokens by (slot, position). A write
// at position p forgets the slot's positions above p, so a reused slot can
// never read a previous occupant's tokens; reading a position that was not
// written is an error.
class ContextHashExecutor : public StepExecutor {
 public:
  ContextHashExecutor(const LoadedPlan& plan, KvCache cache)
      : plan_(plan), cache_(std::move(cache)) {}

  absl::Status Step(const StepBatch& batch) override {
    if (before_step) before_step();
    if (absl::Status s = CheckStepBatch(plan(), cache_, batch); !s.ok()) return s;
    ++steps_;
    if (steps_ == fail_at_step) return absl::InternalError("fake: the step failed");
    max_tokens_seen_ = std::max<int64_t>(max_tokens_seen_, batch.token_ids.size());
    std::vector<std::vector<float>> rows_of_token(batch.token_ids.size());
    for (size_t i = 0; i < batch.token_ids.size(); ++i) {
      auto& seq = stored_[batch.sequence_slots[i]];
      seq.erase(seq.lower_bound(batch.positions[i]), seq.end());
      seq[batch.positions[i]] = batch.token_ids[i];
      std::vector<int32_t> context;
      for (int32_t p = 0; p <= batch.positions[i]; ++p) {
        auto it = seq.find(p);
        if (it == seq.end()) {
          return absl::InternalError("fake: attended to a position that was never written");
        }
        context.push_back(it->second);
      }
      rows_of_token[i] = ContextLogits(context);
    }
    logits_.clear();
    for (int32_t r : batch.logit_rows) {
      logits_.insert(logits_.end(), rows_of_token[r].begin(), rows_of_token[r].end());
    }
    return absl::OkStatus();
  }
  absl::Span<const float> logits() const override { return logits_; }
  const plan::Plan& plan() const override { return plan_.plan(); }
  KvCache& kv_cache() override { return cache_; }
  std::string device_name() const override { return "fake"; }
  int64_t peak_device_bytes() const override { return 0; }

  // Sequence slots in use, from the cache's own bookkeeping.
  int32_t ActiveSlots() const {
    int32_t n = 0;
    for (int32_t s = 0; s < cache_.shape().max_sequences; ++s) n += cache_.IsActive(s);
    return n;
  }

  int steps_ = 0;
  int64_t max_tokens_seen_ = 0;
  // Called at the start of every Step, on the stepping thread.
  std::function<void()> before_step;
  // The step (counted from 1) that fails with an InternalError; 0: none.
  int fail_at_step = 0;

 private:
  const LoadedPlan& plan_;
  KvCache cache_;
  std::map<int32_t, std::map<int32_t, int32_t>> stored_;
  std::vector<float> logits_;
};

// A plan with the given limits and max_seq_len (the fake ignores its
// instructions).
inline absl::StatusOr<LoadedPlan> MakeLimitsPlan(int32_t max_batch_tokens, int32_t max_logit_rows,
                                                 int32_t max_sequences, int32_t max_seq_len = 32) {
  TestPlanSpec spec = MakeTestPlanSpec("/nonexistent");
  spec.max_batch_tokens = max_batch_tokens;
  spec.max_logit_rows = max_logit_rows;
  spec.max_sequences = max_sequences;
  spec.max_seq_len = max_seq_len;
  return LoadedPlan::FromBytes(SerializeTestPlan(spec), "test plan");
}

// A fake over `plan` with a block pool of `num_blocks` blocks of 4
// positions; 0: enough for every slot to reach max_seq_len.
inline std::unique_ptr<ContextHashExecutor> MakeContextHashExecutor(const LoadedPlan& plan,
                                                                    int32_t num_blocks = 0) {
  const auto* limits = plan.plan().limits();
  KvCacheShape shape;
  shape.num_layers = 1;
  shape.num_heads = 1;
  shape.head_dim = 1;
  shape.block_size = 4;
  shape.max_sequences = limits->max_sequences();
  shape.max_seq_len = limits->max_seq_len();
  shape.num_blocks = num_blocks > 0 ? num_blocks : shape.max_sequences * (shape.max_seq_len / 4);
  absl::StatusOr<KvCache> cache = KvCache::Create(shape, KvPools::kExternal);
  EXPECT_TRUE(cache.ok()) << cache.status();
  return std::make_unique<ContextHashExecutor>(plan, *std::move(cache));
}

}  // namespace bloom::testing
