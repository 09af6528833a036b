// Tests that the plan validator and loader refuse tensor-parallel plans
// whose new fields are inconsistent (a slice that does not match its
// tensor, an embedding's rows outside its vocabulary, AllGather output of
// the wrong width, a rank outside the group, a file of the wrong rank), and
// accept the hand-written plans of every rank count.
#include <gtest/gtest.h>

#include <cstdlib>

#include "runtime/plan/plan_loader.h"
#include "test/unit/comm/tp_test_model.h"

namespace bloom {
namespace {

using testing::BuildTpPlan;
using testing::TpModelDims;
using testing::TpPlanTweaks;

absl::Status Validate(int rank, int tp, const TpPlanTweaks& tweaks = {}) {
  return LoadedPlan::FromBytes(BuildTpPlan(TpModelDims{}, "/ckpt", rank, tp, tweaks), "plan.rankX.bplan")
      .status();
}

void ExpectRefused(const absl::Status& status, const std::string& needle) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find(needle), std::string::npos) << status;
}

TEST(TpPlanValidationTest, HandWrittenPlansOfEveryRankAreValid) {
  for (int tp : {1, 2, 3, 4}) {
    for (int r = 0; r < tp; ++r) EXPECT_TRUE(Validate(r, tp).ok()) << Validate(r, tp);
  }
}

TEST(TpPlanValidationTest, SliceMustMatchTheTensorShape) {
  TpPlanTweaks tweaks;
  tweaks.slice_past_shape = true;  // rows [18, 37) for an 18-row tensor
  ExpectRefused(Validate(1, 2, tweaks), "weight slice [18, 37) of dimension 0 does not match the shape [18, 48]");
}

TEST(TpPlanValidationTest, EmbeddingRowsMustLieInTheVocabulary) {
  TpPlanTweaks tweaks;
  tweaks.embedding_vocab_size = 10;  // an 18-row table cannot be inside [0, 10)
  ExpectRefused(Validate(1, 2, tweaks), "table rows [0, 18) are not inside the vocabulary [0, 10)");
}

TEST(TpPlanValidationTest, AllGatherOutputIsTpSizeTimesWider) {
  TpPlanTweaks tweaks;
  tweaks.logits_columns_delta = -1;
  ExpectRefused(Validate(0, 4, tweaks), "(AllGather): output 'logits'");
}

TEST(TpPlanValidationTest, RankMustBeInsideTheGroup) {
  TpPlanTweaks tweaks;
  tweaks.tp_rank = 2;
  ExpectRefused(Validate(0, 2, tweaks), "tensor-parallel rank 2 of 2 is out of range");
}

TEST(TpPlanLoaderTest, ARankFileMustHoldThatRank) {
  char tmpl[] = "/tmp/bloom-tp-loader-test-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  testing::WriteBytes(dir + "/plan.rank1.bplan", BuildTpPlan(TpModelDims{}, "/ckpt", 0, 2));
  auto plan = LoadedPlan::Load(dir, 1);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("holds rank 0 of a tp=2 plan, not rank 1"), std::string::npos)
      << plan.status();
  // A tp=2 plan saved under the tp=1 name.
  testing::WriteBytes(dir + "/plan.bplan", BuildTpPlan(TpModelDims{}, "/ckpt", 0, 2));
  plan = LoadedPlan::Load(dir);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("is the name of a tp=1 plan"), std::string::npos) << plan.status();
  // A missing rank names it.
  plan = LoadedPlan::Load(dir, 3);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("cannot open the plan of rank 3"), std::string::npos) << plan.status();
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace bloom
