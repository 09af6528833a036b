// Tests pipeline-parallel execution on the CPU backend with hand-written
// stage plans (tp_test_model.h's TpPipelineStage), apart from the compiler:
// pp=2 (layers 1 | 2, a count pp does not divide) and pp=3 give the whole
// model's logits (a tp=1, pp=1 plan) bit for bit, pp=2 x tp=2 within 1e-4,
// and the whole model gives the direct double-precision computation's
// within 1e-3; steps in flight over disjoint
// sequences give what the same steps give one at a time; a stage that fails
// mid-step ends the step and every later one with its error, naming the
// stage and rank, promptly; a wrong stage count and mixed directories are
// refused at start.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>

#include "runtime/cpu/cpu_rank_executor.h"
#include "runtime/parallel/pipeline_group.h"
#include "runtime/parallel/rank_group.h"
#include "runtime/plan/plan_version.h"
#include "test/unit/comm/tp_test_model.h"

namespace bloom {
namespace {

using testing::TpModelDims;

TpModelDims Dims() { return testing::PipelineTestDims(); }

class PipelineGroupTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    files_ = new testing::PipelineTestFiles("pipeline-group-test", 23);
    MakeDir("pp3");
    testing::WriteTpPipelineDir(files_->dir + "/pp3", Dims(), files_->dir, 1, {1, 2});
  }
  static void TearDownTestSuite() { delete files_; }
  static void MakeDir(const std::string& name) { files_->MakeDir(name); }
  static PipelineGroupOptions Options() {
    PipelineGroupOptions options;
    options.ranks.make_executor = CpuRankExecutors();
    // Long: a failure must end steps through the poison, not the timeout.
    options.ranks.collective_timeout = absl::Seconds(60);
    return options;
  }
  static std::vector<std::vector<float>> WholeModelRows() {
    RankGroupOptions options = Options().ranks;
    auto whole = RankGroup::CreateThreaded(files_->dir + "/whole", options);
    EXPECT_TRUE(whole.ok()) << whole.status();
    auto rows = testing::RunTpScenario(**whole);
    EXPECT_TRUE(rows.ok()) << rows.status();
    return *rows;
  }

  static testing::PipelineTestFiles* files_;
};
testing::PipelineTestFiles* PipelineGroupTest::files_ = nullptr;

int Argmax(absl::Span<const float> row) {
  return static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());
}

TEST_F(PipelineGroupTest, StagesGiveTheWholeModelsLogitsAndTheReferences) {
  const std::vector<std::vector<float>> base = WholeModelRows();
  const auto reference = testing::ReferenceScenario(Dims(), files_->weights);
  ASSERT_EQ(base.size(), reference.size());
  for (size_t r = 0; r < reference.size(); ++r) {
    for (size_t v = 0; v < reference[r].size(); ++v) {
      ASSERT_NEAR(base[r][v], reference[r][v], 1e-3) << "row " << r << " id " << v;
    }
  }
  for (const auto& [name, pp, tp] : {std::tuple<const char*, int, int>{"pp2", 2, 1},
                                     {"pp3", 3, 1},
                                     {"pp2tp2", 2, 2}}) {
    auto group = PipelineGroup::CreateThreaded(files_->dir + "/" + name, Options());
    ASSERT_TRUE(group.ok()) << name << ": " << group.status();
    EXPECT_EQ((*group)->pp_size(), pp);
    EXPECT_EQ((*group)->tp_size(), tp);
    EXPECT_EQ((*group)->max_steps_in_flight(), pp);
    EXPECT_EQ((*group)->vocab_size(), Dims().vocab);
    auto rows = testing::RunTpScenario(**group);
    ASSERT_TRUE(rows.ok()) << name << ": " << rows.status();
    ASSERT_EQ(rows->size(), base.size());
    double worst = 0;
    for (size_t r = 0; r < rows->size(); ++r) {
      for (size_t v = 0; v < (*rows)[r].size(); ++v) {
        worst = std::max(worst, std::abs(double{(*rows)[r][v]} - base[r][v]));
      }
      EXPECT_EQ(Argmax((*rows)[r]), Argmax(base[r])) << name << " row " << r;
    }
    // A cut changes no arithmetic: bit for bit at tp=1. At tp=2 the
    // row-parallel partial sums round differently (as tensor parallelism
    // alone does); the bound is 1e-4.
    EXPECT_LE(worst, tp == 1 ? 0.0 : 1e-4) << name;
  }
}

// Three sequences, each prefilled by its own step, all three steps in
// flight at once, then one decode step each, two in flight: the same logits
// as the whole model running the same steps one at a time.
TEST_F(PipelineGroupTest, StepsInFlightGiveWhatTheyGiveOneAtATime) {
  const std::vector<std::vector<int32_t>> prompts = {{3, 17, 5, 30}, {22, 0}, {9, 9, 1}};
  const std::vector<int32_t> next = {8, 35, 2};
  auto run = [&](StepExecutor& executor, bool in_flight) -> std::vector<std::vector<float>> {
    KvCache& kv = executor.kv_cache();
    std::vector<int32_t> slots;
    for (size_t i = 0; i < prompts.size(); ++i) {
      auto slot = kv.AddSequence();
      EXPECT_TRUE(slot.ok());
      slots.push_back(*slot);
    }
    std::vector<std::vector<int32_t>> ids, positions, slot_ids, rows;
    for (size_t i = 0; i < prompts.size(); ++i) {
      const int32_t n = static_cast<int32_t>(prompts[i].size());
      ids.push_back(prompts[i]);
      positions.emplace_back();
      for (int32_t p = 0; p < n; ++p) positions.back().push_back(p);
      slot_ids.emplace_back(n, slots[i]);
      rows.push_back({n - 1});
    }
    for (size_t i = 0; i < prompts.size(); ++i) {
      ids.push_back({next[i]});
      positions.push_back({static_cast<int32_t>(prompts[i].size())});
      slot_ids.push_back({slots[i]});
      rows.push_back({0});
    }
    std::vector<std::vector<float>> out;
    auto take = [&](absl::StatusOr<StepOutcome> outcome) {
      EXPECT_TRUE(outcome.ok()) << outcome.status();
      if (outcome.ok()) out.push_back(outcome->logits);
    };
    // Waves: the three prefills, then the three decodes, each wave's
    // steps begun before any is finished (at most max_steps_in_flight).
    for (size_t wave = 0; wave < 2; ++wave) {
      size_t begun = 0, finished = 0;
      const size_t first = wave * prompts.size();
      while (finished < prompts.size()) {
        const int limit = in_flight ? executor.max_steps_in_flight() : 1;
        while (begun < prompts.size() && static_cast<int>(begun - finished) < limit) {
          const size_t k = first + begun;
          const int32_t slot = slot_ids[k][0];
          EXPECT_TRUE(kv.Reserve(slot, positions[k].back() + 1).ok());
          EXPECT_TRUE(executor.BeginStep(StepBatch{ids[k], positions[k], slot_ids[k], rows[k]},
                                         StepKind::kLogits)
                          .ok());
          ++begun;
        }
        take(executor.FinishStep());
        ++finished;
      }
    }
    return out;
  };
  auto whole = RankGroup::CreateThreaded(files_->dir + "/whole", Options().ranks);
  ASSERT_TRUE(whole.ok()) << whole.status();
  const auto expected = run(**whole, false);
  for (const auto& [name, tolerance] : {std::pair<const char*, double>{"pp2", 0.0},
                                        {"pp3", 0.0},
                                        {"pp2tp2", 1e-4}}) {
    auto group = PipelineGroup::CreateThreaded(files_->dir + "/" + name, Options());
    ASSERT_TRUE(group.ok()) << name << ": " << group.status();
    const auto got = run(**group, true);
    ASSERT_EQ(got.size(), expected.size()) << name;
    for (size_t s = 0; s < got.size(); ++s) {
      ASSERT_EQ(got[s].size(), expected[s].size()) << name << " step " << s;
      for (size_t v = 0; v < got[s].size(); ++v) {
        EXPECT_NEAR(got[s][v], expected[s][v], tolerance) << name << " step " << s << " id " << v;
      }
    }
  }
}

TEST_F(PipelineGroupTest, MoreStepsThanStagesAreRefusedAndLeaveTheGroupUsable) {
  auto group = PipelineGroup::CreateThreaded(files_->dir + "/pp2", Options());
  ASSERT_TRUE(group.ok()) << group.status();
  KvCache& kv = (*group)->kv_cache();
  std::vector<int32_t> slots;
  for (int i = 0; i < 3; ++i) {
    auto slot = kv.AddSequence();
    ASSERT_TRUE(slot.ok() && kv.Reserve(*slot, 1).ok());
    slots.push_back(*slot);
  }
  const std::vector<int32_t> ids = {4}, positions = {0}, rows = {0};
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE((*group)->BeginStep(StepBatch{ids, positions, {&slots[i], 1}, rows}, StepKind::kLogits).ok());
  }
  absl::Status third = (*group)->BeginStep(StepBatch{ids, positions, {&slots[2], 1}, rows}, StepKind::kLogits);
  EXPECT_EQ(third.code(), absl::StatusCode::kFailedPrecondition) << third;
  EXPECT_EQ((*group)->Step(StepBatch{ids, positions, {&slots[2], 1}, rows}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*group)->BeginStep(StepBatch{ids, positions, {&slots[2], 1}, rows}, StepKind::kGreedy).code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_TRUE((*group)->FinishStep().ok());
  EXPECT_TRUE((*group)->FinishStep().ok());
  EXPECT_EQ((*group)->FinishStep().status().code(), absl::StatusCode::kFailedPrecondition);
  // Bad input is the caller's error: an id outside the vocabulary.
  const std::vector<int32_t> bad = {36};
  absl::Status status = (*group)->Step(StepBatch{bad, positions, {&slots[2], 1}, rows});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE((*group)->Step(StepBatch{ids, positions, {&slots[2], 1}, rows}).ok());
  EXPECT_EQ((*group)->logits().size(), size_t{36});
}

TEST_F(PipelineGroupTest, AFailingStageEndsItsStepAndEveryLaterOnePromptly) {
  // Stage 0's rank 1 embeds ids [0, 18) only: id 20 fails there mid-step,
  // after rank 0 entered the AllReduce that follows the lookup.
  testing::TpPlanTweaks tweaks;
  tweaks.embedding_vocab_size = 18;
  MakeDir("fails-mid-step");
  const std::string plan_dir = files_->dir + "/fails-mid-step";
  testing::WriteTpPipelineDir(plan_dir, Dims(), files_->dir, 2, {2}, tweaks, /*tweaked_stage=*/0,
                              /*tweaked_rank=*/1);
  auto group = PipelineGroup::CreateThreaded(plan_dir, Options());
  ASSERT_TRUE(group.ok()) << group.status();
  KvCache& kv = (*group)->kv_cache();
  auto a = kv.AddSequence();
  auto b = kv.AddSequence();
  ASSERT_TRUE(a.ok() && b.ok() && kv.Reserve(*a, 2).ok() && kv.Reserve(*b, 2).ok());
  const std::vector<int32_t> good = {3, 4}, bad = {20, 3}, positions = {0, 1}, rows = {1};
  const std::vector<int32_t> slots_a = {*a, *a}, slots_b = {*b, *b};
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE((*group)->BeginStep(StepBatch{good, positions, slots_a, rows}, StepKind::kLogits).ok());
  ASSERT_TRUE((*group)->BeginStep(StepBatch{bad, positions, slots_b, rows}, StepKind::kLogits).ok());
  // The step begun before the failing one passed stage 0 and finishes.
  EXPECT_TRUE((*group)->FinishStep().ok());
  absl::StatusOr<StepOutcome> failed = (*group)->FinishStep();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  ASSERT_FALSE(failed.ok());
  const std::string message(failed.status().message());
  EXPECT_EQ(message.rfind("pipeline stage 0: rank 1: ", 0), 0u) << message;
  EXPECT_NE(message.find("token id 20"), std::string::npos) << message;
  // The group stays failed, with the same error.
  EXPECT_EQ((*group)->BeginStep(StepBatch{good, positions, slots_a, rows}, StepKind::kLogits),
            failed.status());
}

TEST_F(PipelineGroupTest, AStageThatCannotLoadIsNamed) {
  testing::TpPlanTweaks tweaks;
  tweaks.checkpoint_dir = "/nonexistent/bloom-checkpoint";
  MakeDir("missing-checkpoint");
  const std::string plan_dir = files_->dir + "/missing-checkpoint";
  testing::WriteTpPipelineDir(plan_dir, Dims(), files_->dir, 1, {1, 2}, tweaks, /*tweaked_stage=*/2,
                              /*tweaked_rank=*/0);
  auto group = PipelineGroup::CreateThreaded(plan_dir, Options());
  ASSERT_FALSE(group.ok());
  const std::string message(group.status().message());
  EXPECT_EQ(message.rfind("pipeline stage 2: rank 0: ", 0), 0u) << message;
  EXPECT_NE(message.find("/nonexistent/bloom-checkpoint/model.safetensors"), std::string::npos) << message;
}

TEST_F(PipelineGroupTest, AWrongStageCountAndMixedDirectoriesAreRefused) {
  PipelineGroupOptions options = Options();
  options.num_stages = 2;
  auto wrong = PipelineGroup::CreateThreaded(files_->dir + "/pp3", options);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("the plan is for pp=3 but 2 stage(s) were asked for"),
            std::string::npos)
      << wrong.status();
  // A pp=2 directory with a stale stage-2 plan of a pp=3 compilation.
  MakeDir("mixed");
  const std::string mixed = files_->dir + "/mixed";
  testing::WriteTpPipelineDir(mixed, Dims(), files_->dir, 1, {1});
  testing::WriteBytes(mixed + "/" + plan::StagePlanFileName(2, 0),
                      testing::BuildTpPlan(Dims(), files_->dir, 0, 1, {}, testing::TpPipelineStage{2, 3, 2, 3}));
  auto group = PipelineGroup::CreateThreaded(mixed, Options());
  ASSERT_FALSE(group.ok());
  EXPECT_NE(group.status().message().find("mixes files of different compilations"), std::string::npos)
      << group.status();
  // Stages of different compilations: stage 1 of a pp=3 split in a pp=2 directory.
  MakeDir("mixed-stage");
  const std::string mixed_stage = files_->dir + "/mixed-stage";
  testing::WriteTpPipelineDir(mixed_stage, Dims(), files_->dir, 1, {1});
  testing::WriteBytes(mixed_stage + "/" + plan::StagePlanFileName(1, 0),
                      testing::BuildTpPlan(Dims(), files_->dir, 0, 1, {}, testing::TpPipelineStage{1, 3, 1, 2}));
  auto stage = PipelineGroup::CreateThreaded(mixed_stage, Options());
  ASSERT_FALSE(stage.ok());
  EXPECT_NE(stage.status().message().find("differ from stage 0's"), std::string::npos) << stage.status();
  EXPECT_TRUE(IsPipelineDirectory(files_->dir + "/pp2"));
  EXPECT_FALSE(IsPipelineDirectory(files_->dir + "/whole"));
}

}  // namespace
}  // namespace bloom
