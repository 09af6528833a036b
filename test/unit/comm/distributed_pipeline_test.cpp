// Tests DistributedPipeline's protocol (the leader's step messages, the
// hidden state point to point, the logits back, Shutdown) with a thread per
// mesh position over ThreadCommunicators, as mpirun runs it with a process
// per position (test/e2e/tp_mpi.py does that): the hand-written stage plans
// of tp_test_model.h give the whole model's logits (pp=2 bit for bit,
// pp=2 x tp=2 within 1e-4); two steps in flight give what they give one at
// a time; a wrong rank count is every rank's error; a rank failing mid-step
// ends every rank's call promptly, naming the rank, its stage and the cause.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <thread>

#include "runtime/comm/thread_communicator.h"
#include "runtime/cpu/cpu_rank_executor.h"
#include "runtime/parallel/distributed_pipeline.h"
#include "runtime/parallel/rank_group.h"
#include "test/unit/comm/tp_test_model.h"

namespace bloom {
namespace {

using testing::TpModelDims;

TpModelDims Dims() { return testing::PipelineTestDims(); }

class DistributedPipelineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    files_ = new testing::PipelineTestFiles("distributed-pipeline-test", 29);
    testing::TpPlanTweaks narrow;
    narrow.embedding_vocab_size = 18;
    MakeDir("fails");
    testing::WriteTpPipelineDir(files_->dir + "/fails", Dims(), files_->dir, 2, {2}, narrow, 0, 1);
  }
  static void TearDownTestSuite() { delete files_; }
  static void MakeDir(const std::string& name) { files_->MakeDir(name); }
  static RankGroupOptions Options() {
    RankGroupOptions options;
    options.make_executor = CpuRankExecutors();
    options.collective_timeout = absl::Seconds(60);
    return options;
  }

  // A thread per rank of a `ranks`-rank job on `plan_dir`: the leader runs
  // `drive` and shuts the group down, the others follow. Returns each
  // rank's outcome (Create's error, or the leader's drive/Shutdown, or a
  // follower's RunFollower).
  static std::vector<absl::Status> RunJob(
      const std::string& plan_dir, int ranks,
      const std::function<absl::Status(DistributedPipeline&)>& drive) {
    auto comms = ThreadCommunicator::CreateGroup(ranks, absl::Seconds(60));
    std::vector<absl::Status> outcomes(ranks);
    std::vector<std::thread> threads;
    for (int r = 0; r < ranks; ++r) {
      threads.emplace_back([&, r] {
        auto group = DistributedPipeline::Create(plan_dir, std::move(comms[r]), Options());
        if (!group.ok()) {
          outcomes[r] = group.status();
          return;
        }
        if (!(*group)->is_leader()) {
          outcomes[r] = (*group)->RunFollower();
          return;
        }
        outcomes[r] = drive(**group);
        if (outcomes[r].ok()) outcomes[r] = (*group)->Shutdown();
      });
    }
    for (std::thread& t : threads) t.join();
    return outcomes;
  }

  static testing::PipelineTestFiles* files_;
};
testing::PipelineTestFiles* DistributedPipelineTest::files_ = nullptr;

std::vector<std::vector<float>> WholeRows(const std::string& dir) {
  auto whole = RankGroup::CreateThreaded(dir, [] {
    RankGroupOptions options;
    options.make_executor = CpuRankExecutors();
    return options;
  }());
  EXPECT_TRUE(whole.ok()) << whole.status();
  auto rows = testing::RunTpScenario(**whole);
  EXPECT_TRUE(rows.ok()) << rows.status();
  return *rows;
}

TEST_F(DistributedPipelineTest, PositionsAsThreadsGiveTheWholeModelsLogits) {
  const auto base = WholeRows(files_->dir + "/whole");
  for (const auto& [name, ranks, bound] : {std::tuple<const char*, int, double>{"pp2", 2, 0.0},
                                           {"pp2tp2", 4, 1e-4}}) {
    std::vector<std::vector<float>> rows;
    const auto outcomes = RunJob(files_->dir + "/" + name, ranks, [&](DistributedPipeline& leader) {
      EXPECT_EQ(leader.pp_size(), 2);
      EXPECT_EQ(leader.max_steps_in_flight(), 2);
      EXPECT_EQ(leader.vocab_size(), Dims().vocab);
      auto got = testing::RunTpScenario(leader);
      if (got.ok()) rows = *got;
      return got.status();
    });
    for (int r = 0; r < ranks; ++r) EXPECT_TRUE(outcomes[r].ok()) << name << " rank " << r << ": " << outcomes[r];
    ASSERT_EQ(rows.size(), base.size()) << name;
    double worst = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      for (size_t v = 0; v < rows[i].size(); ++v) worst = std::max(worst, std::abs(double{rows[i][v]} - base[i][v]));
    }
    EXPECT_LE(worst, bound) << name;
  }
}

// Two sequences' prefills begun before either finishes, then their decode
// steps the same way: the logits of the same steps on the whole model.
TEST_F(DistributedPipelineTest, TwoStepsInFlightGiveWhatTheyGiveOneAtATime) {
  const std::vector<int32_t> a = {3, 17, 5, 30}, b = {22, 0, 9};
  auto run = [&](StepExecutor& executor, bool in_flight) -> absl::StatusOr<std::vector<std::vector<float>>> {
    KvCache& kv = executor.kv_cache();
    auto sa = kv.AddSequence();
    auto sb = kv.AddSequence();
    if (!sa.ok() || !sb.ok()) return absl::InternalError("no slot");
    std::vector<std::vector<float>> out;
    struct Step {
      std::vector<int32_t> ids, positions, slots, rows;
    };
    auto prefill = [&](const std::vector<int32_t>& ids, int32_t slot) {
      Step s{ids, {}, std::vector<int32_t>(ids.size(), slot), {static_cast<int32_t>(ids.size()) - 1}};
      for (size_t p = 0; p < ids.size(); ++p) s.positions.push_back(static_cast<int32_t>(p));
      return s;
    };
    const std::vector<Step> steps = {prefill(a, *sa), prefill(b, *sb),
                                     Step{{8}, {4}, {*sa}, {0}}, Step{{35}, {3}, {*sb}, {0}}};
    for (size_t wave = 0; wave < 2; ++wave) {
      for (size_t k = 2 * wave; k < 2 * wave + 2; ++k) {
        const Step& s = steps[k];
        if (auto st = kv.Reserve(s.slots[0], s.positions.back() + 1); !st.ok()) return st;
        if (auto st = executor.BeginStep(StepBatch{s.ids, s.positions, s.slots, s.rows}, StepKind::kLogits);
            !st.ok()) {
          return st;
        }
        if (!in_flight) {
          auto outcome = executor.FinishStep();
          if (!outcome.ok()) return outcome.status();
          out.push_back(outcome->logits);
        }
      }
      for (int k = 0; in_flight && k < 2; ++k) {
        auto outcome = executor.FinishStep();
        if (!outcome.ok()) return outcome.status();
        out.push_back(outcome->logits);
      }
    }
    kv.RemoveSequence(*sa);
    kv.RemoveSequence(*sb);
    return out;
  };
  auto whole = RankGroup::CreateThreaded(files_->dir + "/whole", Options());
  ASSERT_TRUE(whole.ok()) << whole.status();
  auto expected = run(**whole, false);
  ASSERT_TRUE(expected.ok()) << expected.status();
  std::vector<std::vector<float>> got;
  const auto outcomes = RunJob(files_->dir + "/pp2", 2, [&](DistributedPipeline& leader) {
    auto rows = run(leader, true);
    if (rows.ok()) got = *rows;
    return rows.status();
  });
  ASSERT_TRUE(outcomes[0].ok()) << outcomes[0];
  ASSERT_TRUE(outcomes[1].ok()) << outcomes[1];
  EXPECT_EQ(got, *expected);
}

TEST_F(DistributedPipelineTest, AWrongRankCountIsEveryRanksError) {
  const auto outcomes = RunJob(files_->dir + "/pp2", 3, [](DistributedPipeline&) { return absl::OkStatus(); });
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(outcomes[r].code(), absl::StatusCode::kFailedPrecondition) << outcomes[r];
    EXPECT_NE(outcomes[r].message().find("is for pp=2 x tp=1 = 2 ranks but was started with 3"),
              std::string::npos)
        << outcomes[r];
  }
}

TEST_F(DistributedPipelineTest, ARankFailingMidStepEndsEveryRanksCallPromptly) {
  const auto start = std::chrono::steady_clock::now();
  const auto outcomes = RunJob(files_->dir + "/fails", 4, [](DistributedPipeline& leader) {
    KvCache& kv = leader.kv_cache();
    auto slot = kv.AddSequence();
    if (!slot.ok() || !kv.Reserve(*slot, 1).ok()) return absl::InternalError("no slot");
    const std::vector<int32_t> ids = {20}, positions = {0}, slots = {*slot}, rows = {0};
    return leader.Step(StepBatch{ids, positions, slots, rows});
  });
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  // Stage 0's rank 1 (global rank 1) rejects id 20: its own error names it,
  // and the others' (the poisoned group) carry its message.
  EXPECT_NE(outcomes[1].message().find("rank 1: pipeline stage 0, tp rank 1:"), std::string::npos)
      << outcomes[1];
  EXPECT_NE(outcomes[1].message().find("token id 20"), std::string::npos) << outcomes[1];
  for (int r : {0, 2, 3}) {
    EXPECT_FALSE(outcomes[r].ok()) << "rank " << r;
  }
}

}  // namespace
}  // namespace bloom
