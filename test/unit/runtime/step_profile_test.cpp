// The CUDA executor's step profile report (runtime/cuda/step_profile.h),
// plain C++ so it runs without a GPU: the bytes and FLOPs each instruction
// must move, and the floors they set, against figures worked out by hand
// for test_plan.h's four-instruction plan; and the ceilings taken from the
// environment.
#include "runtime/cuda/step_profile.h"

#include <cstdlib>
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
    unsetenv("BLOOM_CUDA_PROFILE_GB_PER_S");
    unsetenv("BLOOM_CUDA_PROFILE_TFLOPS");
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

TEST_F(StepProfileTest, CeilingsComeFromTheEnvironment) {
  auto defaults = ProfileCeilingsFromEnvironment();
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->bytes_per_s, ProfileCeilings().bytes_per_s);
  EXPECT_EQ(defaults->flops_per_s, ProfileCeilings().flops_per_s);

  setenv("BLOOM_CUDA_PROFILE_GB_PER_S", "4250", 1);
  setenv("BLOOM_CUDA_PROFILE_TFLOPS", "989.5", 1);
  auto measured = ProfileCeilingsFromEnvironment();
  ASSERT_TRUE(measured.ok()) << measured.status();
  EXPECT_DOUBLE_EQ(measured->bytes_per_s, 4.25e12);
  EXPECT_DOUBLE_EQ(measured->flops_per_s, 989.5e12);

  for (const char* bad : {"fast", "0", "-3", "inf", ""}) {
    setenv("BLOOM_CUDA_PROFILE_GB_PER_S", bad, 1);
    auto refused = ProfileCeilingsFromEnvironment();
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(
        refused.status().message(),
        std::string("BLOOM_CUDA_PROFILE_GB_PER_S: expected a positive number, got '") + bad + "'");
  }
}

}  // namespace
}  // namespace bloom
