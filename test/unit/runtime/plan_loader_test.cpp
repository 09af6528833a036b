// Tests that the plan loader refuses malformed files and semantically
// invalid plans with a message naming the problem, and accepts the valid
// baseline plan.
#include <gtest/gtest.h>

#include "runtime/plan/plan_loader.h"
#include "runtime/plan/plan_version.h"
#include "test/unit/runtime/test_plan.h"

namespace bloom {
namespace {

using testing::MakeTestPlanSpec;
using testing::SerializeTestPlan;
using testing::TestPlanSpec;

absl::Status LoadSpec(const TestPlanSpec& spec) {
  return LoadedPlan::FromBytes(SerializeTestPlan(spec), "test.bplan").status();
}

void ExpectRejected(const TestPlanSpec& spec, const std::string& needle) {
  absl::Status status = LoadSpec(spec);
  ASSERT_FALSE(status.ok()) << "expected an error containing '" << needle << "'";
  EXPECT_NE(status.message().find("test.bplan"), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find(needle), absl::string_view::npos) << status;
}

TEST(PlanLoaderTest, AcceptsBaseline) {
  EXPECT_TRUE(LoadSpec(MakeTestPlanSpec("/ckpt")).ok()) << LoadSpec(MakeTestPlanSpec("/ckpt"));
}

TEST(PlanLoaderTest, RejectsBytesWithoutIdentifier) {
  std::vector<uint8_t> bytes(256, 0x5a);
  absl::Status status = LoadedPlan::FromBytes(bytes, "test.bplan").status();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("not a plan file"), absl::string_view::npos) << status;
}

TEST(PlanLoaderTest, RejectsTruncatedFile) {
  std::vector<uint8_t> bytes = SerializeTestPlan(MakeTestPlanSpec("/ckpt"));
  bytes.resize(bytes.size() / 2);
  absl::Status status = LoadedPlan::FromBytes(bytes, "test.bplan").status();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("corrupt"), absl::string_view::npos) << status;
}

TEST(PlanLoaderTest, RejectsOtherSchemaVersion) {
  TestPlanSpec spec = MakeTestPlanSpec("/ckpt");
  spec.schema_version = plan::kPlanSchemaVersion + 1;
  ExpectRejected(spec, "schema version");
}

TEST(PlanLoaderTest, RejectsMissingDirectory) {
  absl::Status status = LoadedPlan::Load("/nonexistent/plan-dir").status();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("/nonexistent/plan-dir/plan.bplan"), absl::string_view::npos);
}

TEST(PlanValidatorTest, RejectsOperandOutOfRange) {
  TestPlanSpec spec = MakeTestPlanSpec("/ckpt");
  spec.instructions[1].operands[1] = 99;
  ExpectRejected(spec, "operand 99 out of range");
}

TEST(PlanValidatorTest, RejectsWriteToWeight) {
  TestPlanSpec spec = MakeTestPlanSpec("/ckpt");
  spec.instructions[1].results = {4};
  ExpectRejected(spec, "not an activation");
}

TEST(PlanValidatorTest, RejectsMissingRole) {
  TestPlanSpec spec = MakeTestPlanSpec("/ckpt");
  spec.tensors[10].role = plan::TensorRole::None;
  ExpectRejected(spec, "no tensor has role Logits");
}

TEST(PlanValidatorTest, RejectsDuplicateRole) {
  TestPlanSpec spec = MakeTestPlanSpec("/ckpt");
  spec.tensors[1].role = plan::TensorRole::TokenIds;
  ExpectRejected(spec, "two tensors have role TokenIds");
}

TEST(PlanValidatorTest, RejectsTokenIdsOfWrongDtype) {
  TestPlanSpec spec = MakeTestPlanSpec("/ckpt");
  spec.tensors[0].dtype = plan::DType::F32;
  ExpectRejected(spec, "wrong kind, dtype");
}

TEST(PlanValidatorTest, RejectsArenaRangePastEnd) {
  TestPlanSpec spec = MakeTestPlanSpec("/ckpt");
  spec.arena_bytes = 700;  // logits need [640, 800)
  ExpectRejected(spec, "ends past the arena");
}

TEST(PlanValidatorTest, RejectsMisalignedOffset) {
  TestPlanSpec spec = MakeTestPlanSpec("/ckpt");
  spec.tensors[7].arena_offset = 260;
  ExpectRejected(spec, "not 64-byte aligned");
}

TEST(PlanValidatorTest, RejectsStaticDimensionOnDynamicTensor) {
  TestPlanSpec spec = MakeTestPlanSpec("/ckpt");
  spec.tensors[7].shape = {8, testing::kHidden};
  ExpectRejected(spec, "first dimension must be -1");
}

TEST(PlanValidatorTest, RejectsLayerNormWithWrongGammaShape) {
  TestPlanSpec spec = MakeTestPlanSpec("/ckpt");
  spec.instructions[1].operands = {7, 4, 6};  // the [5, 4] table as gamma
  ExpectRejected(spec, "gamma");
}

TEST(PlanValidatorTest, RejectsNonPositiveEpsilon) {
  TestPlanSpec spec = MakeTestPlanSpec("/ckpt");
  spec.instructions[1].epsilon = 0;
  ExpectRejected(spec, "epsilon");
}

TEST(PlanValidatorTest, RejectsLinearWithMismatchedWeight) {
  TestPlanSpec spec = MakeTestPlanSpec("/ckpt");
  spec.instructions[3].operands = {9, 5};  // [4] is no matrix
  ExpectRejected(spec, "weight");
}

TEST(PlanValidatorTest, RejectsWrongArity) {
  TestPlanSpec spec = MakeTestPlanSpec("/ckpt");
  spec.instructions[2].operands = {8};
  ExpectRejected(spec, "takes 2 operands");
}

TEST(PlanValidatorTest, RejectsLiveBuffersSharingBytes) {
  TestPlanSpec spec = MakeTestPlanSpec("/ckpt");
  // embeddings (written by 0, read by 1) and embeddings_norm (written by 1)
  // are both live at instruction 1.
  spec.tensors[8].arena_offset = spec.tensors[7].arena_offset;
  ExpectRejected(spec, "share arena bytes while both are live");
}

TEST(PlanValidatorTest, AcceptsDeadBuffersSharingBytes) {
  TestPlanSpec spec = MakeTestPlanSpec("/ckpt");
  // embeddings dies at instruction 1; logit_hidden is born at 2.
  spec.tensors[9].arena_offset = spec.tensors[7].arena_offset;
  EXPECT_TRUE(LoadSpec(spec).ok()) << LoadSpec(spec);
}

TEST(PlanValidatorTest, RejectsReadBeforeWrite) {
  TestPlanSpec spec = MakeTestPlanSpec("/ckpt");
  std::swap(spec.instructions[0], spec.instructions[1]);
  ExpectRejected(spec, "before any instruction writes it");
}

TEST(PlanValidatorTest, RejectsLogitRowLimitAboveBatch) {
  TestPlanSpec spec = MakeTestPlanSpec("/ckpt");
  spec.max_logit_rows = spec.max_batch_tokens + 1;
  ExpectRejected(spec, "max_logit_rows");
}

}  // namespace
}  // namespace bloom
