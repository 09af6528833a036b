// Tests that the plan loader refuses malformed files and semantically
// invalid plans with a message naming the problem, and accepts the valid
// baseline plan.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

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

// Pipeline stages (plan.fbs, Plan.pp_stage): the baseline's tensors recast
// as a first stage (embedding and norm, ending in the hidden state) and as
// a last stage (norm, gather, LM head, starting from it).
TestPlanSpec FirstStageSpec() {
  TestPlanSpec spec = MakeTestPlanSpec("/ckpt");
  spec.pp_stage = 0;
  spec.pp_size = 2;
  spec.tensors[3].kind = plan::TensorKind::Activation;  // logit_rows: no longer an input
  spec.tensors[3].role = plan::TensorRole::None;
  spec.tensors[8].role = plan::TensorRole::HiddenOut;  // embeddings_norm
  spec.tensors[10].role = plan::TensorRole::None;      // logits: not computed
  spec.instructions.resize(2);                         // gather + norm
  return spec;
}

TestPlanSpec LastStageSpec() {
  TestPlanSpec spec = MakeTestPlanSpec("/ckpt");
  spec.pp_stage = 1;
  spec.pp_size = 2;
  spec.tensors[0].kind = plan::TensorKind::Activation;  // token_ids: not read
  spec.tensors[0].role = plan::TensorRole::None;
  spec.tensors[7].kind = plan::TensorKind::StepInput;  // embeddings: the previous stage's
  spec.tensors[7].role = plan::TensorRole::HiddenIn;
  spec.instructions.erase(spec.instructions.begin());  // no embedding gather
  return spec;
}

TEST(PlanValidatorTest, AcceptsFirstAndLastPipelineStages) {
  EXPECT_TRUE(LoadSpec(FirstStageSpec()).ok()) << LoadSpec(FirstStageSpec());
  EXPECT_TRUE(LoadSpec(LastStageSpec()).ok()) << LoadSpec(LastStageSpec());
}

TEST(PlanValidatorTest, RejectsRolesTheStageDoesNotHave) {
  TestPlanSpec first = MakeTestPlanSpec("/ckpt");
  first.pp_size = 2;
  ExpectRejected(first, "has role LogitRows, which pipeline stage 0 of 2 does not have");
  TestPlanSpec last = MakeTestPlanSpec("/ckpt");
  last.pp_stage = 1;
  last.pp_size = 2;
  ExpectRejected(last, "has role TokenIds, which pipeline stage 1 of 2 does not have");
  TestPlanSpec single = LastStageSpec();
  single.pp_stage = 0;
  single.pp_size = 1;
  ExpectRejected(single, "has role HiddenIn, which pipeline stage 0 of 1 does not have");
}

TEST(PlanValidatorTest, RejectsStageWithoutItsHiddenState) {
  TestPlanSpec spec = FirstStageSpec();
  spec.tensors[8].role = plan::TensorRole::None;
  ExpectRejected(spec, "no tensor has role HiddenOut (pipeline stage 0 of 2)");
}

TEST(PlanValidatorTest, RejectsHiddenStateOfWrongShape) {
  TestPlanSpec spec = FirstStageSpec();
  spec.tensors[8].rows = plan::RowDim::LogitRows;
  ExpectRejected(spec, "wrong kind, dtype, rank or rows for role HiddenOut");
  TestPlanSpec input = LastStageSpec();
  input.tensors[7].kind = plan::TensorKind::Activation;
  ExpectRejected(input, "wrong kind, dtype, rank or rows for role HiddenIn");
}

TEST(PlanValidatorTest, RejectsStageOutOfRange) {
  TestPlanSpec spec = FirstStageSpec();
  spec.pp_stage = 2;
  ExpectRejected(spec, "pipeline stage 2 of 2 is out of range");
}

TEST(PlanLoaderTest, LoadsStagePlansByMeshPosition) {
  char pattern[] = "/tmp/plan_loader_test.XXXXXX";
  const char* dir = mkdtemp(pattern);
  ASSERT_NE(dir, nullptr);
  const std::vector<uint8_t> bytes = SerializeTestPlan(FirstStageSpec());
  const std::string path = std::string(dir) + "/" + plan::StagePlanFileName(0, 0);
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  EXPECT_TRUE(LoadedPlan::LoadStage(dir, 0, 0).ok()) << LoadedPlan::LoadStage(dir, 0, 0).status();
  absl::Status missing = LoadedPlan::LoadStage(dir, 1, 0).status();
  EXPECT_TRUE(absl::IsNotFound(missing)) << missing;
  EXPECT_NE(missing.message().find("plan.stage1.rank0.bplan"), absl::string_view::npos) << missing;
  absl::Status single = LoadedPlan::Load(dir).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(single)) << single;
  EXPECT_NE(single.message().find("a pipeline-parallel plan directory"), absl::string_view::npos)
      << single;
  // The file of position (0, 0) renamed as (0, 1) holds the wrong position.
  std::rename(path.c_str(), (std::string(dir) + "/" + plan::StagePlanFileName(0, 1)).c_str());
  absl::Status wrong = LoadedPlan::LoadStage(dir, 0, 1).status();
  EXPECT_NE(wrong.message().find("not stage 0, rank 1"), absl::string_view::npos) << wrong;
  std::remove((std::string(dir) + "/" + plan::StagePlanFileName(0, 1)).c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace bloom
