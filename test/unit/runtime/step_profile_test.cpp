// The CUDA executor's step profile report (runtime/cuda/step_profile.h),
// plain C++ so it runs without a GPU: the bytes and FLOPs each instruction
// must move, and the floors they set, against figures worked out by hand
// for test_plan.h's four-instruction plan, at the ceilings it is given.
#include "runtime/cuda/step_profile.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/unit/runtime/test_plan.h"

namespace bloom {
namespace {

using ::testing::HasSubstr;

class StepProfileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bytes_ = testing::SerializeTestPlan(testing::MakeTestPlanSpec("/nowhere"));
  }
  const plan::Plan& Plan() const { return *plan::GetPlan(bytes_.data()); }
  std::vector<uint8_t> bytes_;
};

TEST_F(StepProfileTest, FloorsAreTheBytesAndFlopsOverTheCeilings) {
  // T = 3 tokens, R = 2 logit rows, hidden 4, vocab 5, f32 (4 bytes):
  //   EmbeddingGather: writes 3x4 rows and reads as many: 2 * 48 = 96 B
  //   LayerNorm: writes 48, reads 48 + gamma 16 + beta 16 = 128 B
  //   GatherRows: writes 2x4 = 32, reads 48 + 2 row ids (8) = 88 B
  //   Linear: writes 2x5 = 40, reads 32 + the 5x4 weight 80 = 152 B,
  //           2 * 2 * 4 * 5 = 80 FLOPs
  // At 8 MB/s and 4 MFLOP/s: 12, 16, 11 us, and the Linear's
  // max(19, 20) = 20 us; 59 us in all.
  ProfileCeilings ceilings;
  ceilings.bytes_per_s = 8e6;
  ceilings.flops_per_s = 4e6;
  ProfiledStep step;
  step.tokens = 3;
  step.logit_rows = 2;
  step.positions = {0, 1, 2};
  const std::vector<double> ms = {0.024, 0.032, 0.022, 0.080};
  const std::string report = FormatStepProfile(Plan(), step, ms, /*total_ms=*/0.2,
                                               /*every_instruction=*/true, ceilings);
  EXPECT_THAT(report, HasSubstr("T=3 R=2, 4 instructions, step 0.200 ms"));
  EXPECT_THAT(report, HasSubstr("sum 0.158 ms, floor 0.059 ms"));
  // One line per instruction: its time, its bytes in MB, its floor.
  EXPECT_THAT(
      report,
      HasSubstr("embeddings                        24.0 us      0.00 MB  floor     12.0 us"));
  EXPECT_THAT(
      report,
      HasSubstr("embeddings_norm                   32.0 us      0.00 MB  floor     16.0 us"));
  EXPECT_THAT(
      report,
      HasSubstr("logit_hidden                      22.0 us      0.00 MB  floor     11.0 us"));
  EXPECT_THAT(
      report,
      HasSubstr("logits                            80.0 us      0.00 MB  floor     20.0 us"));
  // Per category: time over floor (24 / 12 us, 80 / 20 us).
  EXPECT_THAT(report, HasSubstr("EmbeddingGather                  1       24.0     24.00"));
  EXPECT_THAT(report, HasSubstr("Linear logits                    1       80.0     80.00"));
  EXPECT_THAT(report, HasSubstr("   12.0   2.00\n"));
  EXPECT_THAT(report, HasSubstr("   20.0   4.00\n"));
}

TEST_F(StepProfileTest, TheHeaderNamesTheBandwidthCeiling) {
  // The same step at 4.5 TB/s (and the default compute ceiling): the
  // bytes-bound floors are 96, 128, 88 and 152 B over 4.5e12 B/s, 464 B in
  // all, 1.03e-4 us, which %.3f ms prints as 0.000.
  ProfileCeilings ceilings;
  ceilings.bytes_per_s = 4.5e12;
  ProfiledStep step;
  step.tokens = 3;
  step.logit_rows = 2;
  step.positions = {0, 1, 2};
  const std::string report =
      FormatStepProfile(Plan(), step, {0.024, 0.032, 0.022, 0.080}, /*total_ms=*/0.2,
                        /*every_instruction=*/false, ceilings);
  EXPECT_THAT(report, HasSubstr("floor 0.000 ms (0.00 GB at 4.5 TB/s)"));
  // Only instructions outside layers 1.. are listed; the test plan has no
  // layers, so all four are.
  EXPECT_THAT(report, HasSubstr("logits                            80.0 us"));
}

TEST_F(StepProfileTest, AttentionReadsEachRunsKeysOnceAndCountsItsFlops) {
  // The test plan plus one AlibiAttention (1 head of 4 dims, f32 cache: a
  // position's K or V row is 16 bytes) over T = 4 tokens: a prefill chunk
  // of slot 0 at positions 0-2 and a decode token of slot 1 at position 5.
  //   bytes: the context written 4x4x4 = 64, qkv read 4x12x4 = 192,
  //          positions and slots 16 + 16; K and V of slot 0 up to position
  //          2 once (2 x 3 x 16 = 96, not once per query) and of slot 1 up
  //          to 5 (2 x 6 x 16 = 192): 576 bytes;
  //   FLOPs: q.K and p.V, 4 x (1 + 2 + 3 + 6) keys x 4 dims = 192.
  // At 8 MB/s that is 72 us; at 1 MFLOP/s 192 us, the floor.
  testing::TestPlanSpec spec = testing::MakeTestPlanSpec("/nowhere");
  const uint32_t qkv = static_cast<uint32_t>(spec.tensors.size());
  spec.tensors.push_back({"qkv",
                          plan::TensorKind::Activation,
                          plan::TensorRole::None,
                          plan::DType::F32,
                          {-1, 3 * testing::kHidden},
                          plan::RowDim::Tokens,
                          0});
  spec.tensors.push_back({"attn_context",
                          plan::TensorKind::Activation,
                          plan::TensorRole::None,
                          plan::DType::F32,
                          {-1, testing::kHidden},
                          plan::RowDim::Tokens,
                          0});
  spec.instructions.push_back({plan::Kernel::AlibiAttention, {qkv, 1, 2}, {qkv + 1}});
  const std::vector<uint8_t> bytes = testing::SerializeTestPlan(spec);
  ProfiledStep step;
  step.tokens = 4;
  step.logit_rows = 2;
  step.positions = {0, 1, 2, 5};
  step.slots = {0, 0, 0, 1};
  const std::vector<double> ms = {0.024, 0.032, 0.022, 0.080, 0.300};
  ProfileCeilings ceilings;
  ceilings.bytes_per_s = 8e6;
  ceilings.flops_per_s = 1e12;
  std::string report = FormatStepProfile(*plan::GetPlan(bytes.data()), step, ms, 0.5,
                                         /*every_instruction=*/true, ceilings);
  EXPECT_THAT(
      report,
      HasSubstr("attn_context                     300.0 us      0.00 MB  floor     72.0 us"));
  ceilings.flops_per_s = 1e6;
  report = FormatStepProfile(*plan::GetPlan(bytes.data()), step, ms, 0.5,
                             /*every_instruction=*/true, ceilings);
  EXPECT_THAT(
      report,
      HasSubstr("attn_context                     300.0 us      0.00 MB  floor    192.0 us"));
  // Without slots each token counts as its own run (the decode model):
  // K and V 2 x (1 + 2 + 3 + 6) x 16 = 384 bytes, 672 in all, 84 us.
  step.slots.clear();
  ceilings.flops_per_s = 1e12;
  report = FormatStepProfile(*plan::GetPlan(bytes.data()), step, ms, 0.5,
                             /*every_instruction=*/true, ceilings);
  EXPECT_THAT(
      report,
      HasSubstr("attn_context                     300.0 us      0.00 MB  floor     84.0 us"));
}

}  // namespace
}  // namespace bloom
