// Tests the executor on a hand-written plan (no compiler involved): the
// logits it produces equal a direct computation written in this test, and
// bad step inputs are refused with an error rather than read out of bounds.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>

#include "runtime/cpu/cpu_executor.h"
#include "runtime/plan/plan_version.h"
#include "runtime/support/dtype.h"
#include "test/unit/runtime/test_plan.h"

namespace bloom {
namespace {

using testing::kHidden;
using testing::kVocab;

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bloom-executor-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.f, 1.f);
    for (int i = 0; i < kVocab * kHidden; ++i) embeddings_.push_back(normal(rng));
    for (int i = 0; i < kHidden; ++i) gamma_.push_back(1.f + 0.1f * normal(rng));
    for (int i = 0; i < kHidden; ++i) beta_.push_back(0.1f * normal(rng));
    testing::WriteTestCheckpoint(dir_, embeddings_, gamma_, beta_);
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  absl::StatusOr<std::unique_ptr<CpuExecutor>> MakeExecutor(const testing::TestPlanSpec& spec) {
    std::vector<uint8_t> bytes = testing::SerializeTestPlan(spec);
    std::ofstream(dir_ + "/plan.bplan", std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    absl::StatusOr<LoadedPlan> plan = LoadedPlan::Load(dir_);
    if (!plan.ok()) return plan.status();
    return CpuExecutor::Create(*std::move(plan), ExecutorOptions{});
  }

  // logits[v] = LayerNorm(embeddings[id]) · embeddings[v], in double. With
  // `bf16`, the values a bf16-storage plan holds: weights and the normed
  // activation rounded to bf16, the logits (F32) not.
  std::vector<double> Reference(int id, bool bf16 = false) const {
    auto round = [&](double v) {
      return bf16 ? double{BFloat16ToFloat(FloatToBFloat16(static_cast<float>(v)))} : v;
    };
    std::vector<float> table(embeddings_);
    for (float& v : table) v = static_cast<float>(round(v));
    const float* x = &table[id * kHidden];
    double mean = 0, var = 0;
    for (int i = 0; i < kHidden; ++i) mean += x[i];
    mean /= kHidden;
    for (int i = 0; i < kHidden; ++i) var += (x[i] - mean) * (x[i] - mean);
    var /= kHidden;
    std::vector<double> normed(kHidden), logits(kVocab);
    for (int i = 0; i < kHidden; ++i) {
      normed[i] = round((x[i] - mean) / std::sqrt(var + 1e-5) * round(gamma_[i]) + round(beta_[i]));
    }
    for (int v = 0; v < kVocab; ++v) {
      for (int i = 0; i < kHidden; ++i) logits[v] += normed[i] * table[v * kHidden + i];
    }
    return logits;
  }

  std::string dir_;
  std::vector<float> embeddings_, gamma_, beta_;
};

TEST_F(ExecutorTest, LogitsMatchDirectComputation) {
  auto executor = MakeExecutor(testing::MakeTestPlanSpec(dir_));
  ASSERT_TRUE(executor.ok()) << executor.status();
  auto slot = (*executor)->kv_cache().AddSequence();
  ASSERT_TRUE(slot.ok());
  ASSERT_TRUE((*executor)->kv_cache().Reserve(*slot, 3).ok());
  const int32_t tokens[] = {1, 4, 2}, positions[] = {0, 1, 2}, slots[] = {*slot, *slot, *slot};
  const int32_t rows[] = {2, 0};  // out of order on purpose
  ASSERT_TRUE((*executor)->Step({tokens, positions, slots, rows}).ok());
  absl::Span<const float> logits = (*executor)->logits();
  ASSERT_EQ(logits.size(), 2u * kVocab);
  for (int r = 0; r < 2; ++r) {
    std::vector<double> expected = Reference(tokens[rows[r]]);
    for (int v = 0; v < kVocab; ++v) EXPECT_NEAR(logits[r * kVocab + v], expected[v], 1e-5);
  }
  auto hidden = (*executor)->FindTensor("embeddings_norm");
  ASSERT_TRUE(hidden.ok());
  EXPECT_EQ(hidden->rows, 3);
}

// The synchronous defaults of steps in flight (executor.h): BeginStep runs
// the step, FinishStep hands back a copy of its logits; a second BeginStep
// before FinishStep, and FinishStep with nothing begun, are refused.
TEST_F(ExecutorTest, BeginAndFinishStepRunOneStepAtATime) {
  auto executor = MakeExecutor(testing::MakeTestPlanSpec(dir_));
  ASSERT_TRUE(executor.ok()) << executor.status();
  StepExecutor& e = **executor;
  EXPECT_EQ(e.max_steps_in_flight(), 1);
  EXPECT_TRUE(absl::IsFailedPrecondition(e.FinishStep().status()));
  const int32_t slot = *e.kv_cache().AddSequence();
  ASSERT_TRUE(e.kv_cache().Reserve(slot, 2).ok());
  const int32_t tokens[] = {3, 1}, positions[] = {0, 1}, slots[] = {slot, slot}, rows[] = {1};
  ASSERT_TRUE(e.BeginStep({tokens, positions, slots, rows}, StepKind::kLogits).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(
      e.BeginStep({tokens, positions, slots, rows}, StepKind::kLogits)));
  absl::StatusOr<StepOutcome> outcome = e.FinishStep();
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  ASSERT_EQ(outcome->logits.size(), size_t{kVocab});
  const std::vector<double> expected = Reference(tokens[1]);
  for (int v = 0; v < kVocab; ++v) EXPECT_NEAR(outcome->logits[v], expected[v], 1e-5);
  // The CPU backend has no device token choice: the default says so.
  EXPECT_TRUE(absl::IsUnimplemented(
      e.BeginStep({tokens, positions, slots, rows}, StepKind::kGreedy)));
  EXPECT_TRUE(absl::IsFailedPrecondition(e.FinishStep().status()));
}

TEST_F(ExecutorTest, Bf16StorageIsRoundedLikeTheReference) {
  testing::TestPlanSpec spec = testing::MakeTestPlanSpec(dir_);
  for (int i : {4, 5, 6, 7, 8, 9}) spec.tensors[i].dtype = plan::DType::BF16;  // all but logits
  auto executor = MakeExecutor(spec);
  ASSERT_TRUE(executor.ok()) << executor.status();
  const int32_t slot = *(*executor)->kv_cache().AddSequence();
  ASSERT_TRUE((*executor)->kv_cache().Reserve(slot, 2).ok());
  const int32_t tokens[] = {3, 1}, positions[] = {0, 1}, slots[] = {slot, slot}, rows[] = {0, 1};
  ASSERT_TRUE((*executor)->Step({tokens, positions, slots, rows}).ok());
  absl::Span<const float> logits = (*executor)->logits();
  double largest_rounding_effect = 0;
  for (int r = 0; r < 2; ++r) {
    const std::vector<double> rounded = Reference(tokens[r], /*bf16=*/true);
    const std::vector<double> exact = Reference(tokens[r]);
    for (int v = 0; v < kVocab; ++v) {
      EXPECT_NEAR(logits[r * kVocab + v], rounded[v], 1e-5) << r << "," << v;
      largest_rounding_effect = std::max(largest_rounding_effect, std::fabs(rounded[v] - exact[v]));
    }
  }
  // The rounding must be visible, or this test would not tell bf16 from fp32.
  EXPECT_GT(largest_rounding_effect, 1e-4);
}

TEST_F(ExecutorTest, RefusesBadStepInputs) {
  auto executor = MakeExecutor(testing::MakeTestPlanSpec(dir_));
  ASSERT_TRUE(executor.ok()) << executor.status();
  CpuExecutor& e = **executor;
  const int32_t slot = *e.kv_cache().AddSequence();
  ASSERT_TRUE(e.kv_cache().Reserve(slot, 2).ok());
  const int32_t pos[] = {0, 1}, slots[] = {slot, slot}, row[] = {0};
  const int32_t outside[] = {1, kVocab};
  absl::Status status = e.Step({outside, pos, slots, row});
  EXPECT_NE(status.message().find("outside the vocabulary"), absl::string_view::npos) << status;

  const int32_t ok_tokens[] = {1, 2};
  const int32_t far[] = {0, 5};  // position 5 has no reserved KV space
  status = e.Step({ok_tokens, far, slots, row});
  EXPECT_NE(status.message().find("no reserved KV-cache space"), absl::string_view::npos) << status;

  const int32_t inactive[] = {slot, 1};
  status = e.Step({ok_tokens, pos, inactive, row});
  EXPECT_NE(status.message().find("not an active"), absl::string_view::npos) << status;

  const int32_t bad_row[] = {2};
  status = e.Step({ok_tokens, pos, slots, bad_row});
  EXPECT_NE(status.message().find("logit row 2"), absl::string_view::npos) << status;

  std::vector<int32_t> many(9, 1);  // the plan allows 8 tokens a step
  status = e.Step({many, many, many, row});
  EXPECT_NE(status.message().find("allows 1 to 8"), absl::string_view::npos) << status;
}

TEST_F(ExecutorTest, RefusesCheckpointThatDisagreesWithPlan) {
  testing::TestPlanSpec spec = testing::MakeTestPlanSpec(dir_);
  spec.tensors[5].source_tensor = "ln.missing";
  auto executor = MakeExecutor(spec);
  ASSERT_FALSE(executor.ok());
  EXPECT_NE(executor.status().message().find("ln.missing"), absl::string_view::npos)
      << executor.status();
}

}  // namespace
}  // namespace bloom
