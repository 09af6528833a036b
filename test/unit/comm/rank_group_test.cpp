// Tests tensor-parallel execution on the CPU backend with hand-written
// per-rank plans (tp_test_model.h): tp=2, 3 and 4 threaded groups give tp=1's
// logits within 1e-5 and a direct double-precision computation's within
// 1e-3, with the same greedy tokens; each rank reads only its slices' bytes;
// wrong rank counts, a rank that cannot load and a rank that fails mid-step
// end in errors naming the rank, promptly, never a hang.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "runtime/checkpoint/tensor_slice.h"
#include "runtime/cpu/cpu_executor.h"
#include "runtime/cpu/cpu_rank_executor.h"
#include "runtime/parallel/rank_group.h"
#include "runtime/plan/plan_loader.h"
#include "runtime/plan/plan_version.h"
#include "runtime/support/status_macros.h"
#include "test/unit/comm/tp_test_model.h"

namespace bloom {
namespace {

using testing::TpModelDims;

class RankGroupTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/bloom-rank-group-test-XXXXXX";
    dir_ = new std::string(mkdtemp(tmpl));
    weights_ = new testing::TpWeights(testing::MakeTpWeights(TpModelDims{}, 11));
    testing::WriteTpCheckpoint(*dir_, TpModelDims{}, *weights_);
    for (int tp : {1, 2, 3, 4}) {
      const std::string plan_dir = PlanDir(tp);
      ASSERT_EQ(0, std::system(("mkdir -p " + plan_dir).c_str()));
      testing::WriteTpPlanDir(plan_dir, TpModelDims{}, *dir_, tp);
    }
  }
  static void TearDownTestSuite() {
    std::system(("rm -rf " + *dir_).c_str());
    delete dir_;
    delete weights_;
  }
  static std::string PlanDir(int tp) { return *dir_ + "/tp" + std::to_string(tp); }
  // A fresh plan directory holding tp=2 plans, rank 1's with `tweaks`.
  static std::string TweakedDir(const std::string& name, const testing::TpPlanTweaks& tweaks) {
    const std::string plan_dir = *dir_ + "/" + name;
    EXPECT_EQ(0, std::system(("mkdir -p " + plan_dir).c_str()));
    testing::WriteBytes(plan_dir + "/plan.rank0.bplan", testing::BuildTpPlan(TpModelDims{}, *dir_, 0, 2));
    testing::WriteBytes(plan_dir + "/plan.rank1.bplan", testing::BuildTpPlan(TpModelDims{}, *dir_, 1, 2, tweaks));
    return plan_dir;
  }
  static RankGroupOptions Options() {
    RankGroupOptions options;
    options.make_executor = CpuRankExecutors();
    // Long: a failure must end steps through the poison, not the timeout.
    options.collective_timeout = absl::Seconds(60);
    return options;
  }

  static std::string* dir_;
  static testing::TpWeights* weights_;
};
std::string* RankGroupTest::dir_ = nullptr;
testing::TpWeights* RankGroupTest::weights_ = nullptr;

int Argmax(const std::vector<float>& row) {
  return static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());
}

TEST_F(RankGroupTest, TensorParallelLogitsEqualTp1AndTheReference) {
  auto tp1 = RankGroup::CreateThreaded(PlanDir(1), Options());
  ASSERT_TRUE(tp1.ok()) << tp1.status();
  auto base = testing::RunTpScenario(**tp1);
  ASSERT_TRUE(base.ok()) << base.status();
  const auto reference = testing::ReferenceScenario(TpModelDims{}, *weights_);
  ASSERT_EQ(base->size(), reference.size());
  for (size_t r = 0; r < reference.size(); ++r) {
    for (size_t v = 0; v < reference[r].size(); ++v) {
      ASSERT_NEAR((*base)[r][v], reference[r][v], 1e-3) << "row " << r << " id " << v;
    }
  }
  for (int tp : {2, 3, 4}) {
    auto group = RankGroup::CreateThreaded(PlanDir(tp), Options());
    ASSERT_TRUE(group.ok()) << group.status();
    EXPECT_EQ((*group)->tp_size(), tp);
    auto rows = testing::RunTpScenario(**group);
    ASSERT_TRUE(rows.ok()) << rows.status();
    ASSERT_EQ(rows->size(), base->size());
    double worst = 0;
    for (size_t r = 0; r < rows->size(); ++r) {
      for (size_t v = 0; v < (*rows)[r].size(); ++v) {
        worst = std::max(worst, std::abs(double{(*rows)[r][v]} - (*base)[r][v]));
      }
      EXPECT_EQ(Argmax((*rows)[r]), Argmax((*base)[r])) << "tp=" << tp << " row " << r;
    }
    EXPECT_LE(worst, 1e-5) << "tp=" << tp;
  }
}

TEST_F(RankGroupTest, Tp1GroupEqualsAPlainExecutorBitForBit) {
  auto group = RankGroup::CreateThreaded(PlanDir(1), Options());
  ASSERT_TRUE(group.ok()) << group.status();
  auto plan = LoadedPlan::Load(PlanDir(1));
  ASSERT_TRUE(plan.ok()) << plan.status();
  auto plain = CpuExecutor::Create(*std::move(plan), ExecutorOptions{});
  ASSERT_TRUE(plain.ok()) << plain.status();
  auto a = testing::RunTpScenario(**group);
  auto b = testing::RunTpScenario(**plain);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
}

// Bytes a rank of tp=N must read, derived from the model by hand: the
// replicated layer norms whole, the biases of row-parallel layers on rank 0
// only, everything else 1/N.
int64_t ExpectedRankBytes(const TpModelDims& d, int tp, int rank) {
  const int64_t h = d.hidden(), f = d.ffn();
  int64_t floats = 2 * h + 2 * h + int64_t{d.vocab} * h / tp;  // embedding norm, ln_f, table slice
  for (int l = 0; l < d.layers; ++l) {
    floats += 4 * h;                              // two layer norms
    floats += (3 * h * h + 3 * h) / tp;           // QKV weight and bias rows
    floats += h * h / tp + (rank == 0 ? h : 0);   // dense columns (+ bias)
    floats += (f * h + f) / tp;                   // h->4h rows and bias
    floats += h * f / tp + (rank == 0 ? h : 0);   // 4h->h columns (+ bias)
  }
  return floats * 4;
}

TEST_F(RankGroupTest, EachRankReadsOnlyItsSlices) {
  for (int tp : {1, 2, 4}) {
    auto group = RankGroup::CreateThreaded(PlanDir(tp), Options());
    ASSERT_TRUE(group.ok()) << group.status();
    for (int r = 0; r < tp; ++r) {
      EXPECT_EQ(static_cast<CpuExecutor&>((*group)->local_executor(r)).weight_bytes_read(), ExpectedRankBytes(TpModelDims{}, tp, r))
          << "tp=" << tp << " rank " << r;
    }
  }
}

// The slice reader touches nothing outside the slice: the bytes it must not
// read sit on pages with no access rights, so reading one would crash.
TEST(ReadTensorSliceTest, ReadsOnlyTheSlicesBytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const int64_t rows = 3, columns = static_cast<int64_t>(2 * page / 4);  // two pages a row
  const size_t bytes = rows * columns * 4;
  void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(memory, MAP_FAILED);
  float* values = static_cast<float*>(memory);
  for (int64_t i = 0; i < rows * columns; ++i) values[i] = static_cast<float>(i);
  // Column slice [0, columns / 2): the first page of every row.
  for (int64_t r = 0; r < rows; ++r) {
    ASSERT_EQ(0, mprotect(static_cast<char*>(memory) + (2 * r + 1) * page, page, PROT_NONE));
  }
  const int64_t half = columns / 2;
  std::vector<float> dst(rows * half);
  const std::vector<int64_t> shape = {rows, columns};
  absl::Status status = ReadTensorSliceAsFloat32(
      DType::kF32, shape, absl::MakeConstSpan(static_cast<const uint8_t*>(memory), bytes), 1, 0, half,
      absl::MakeSpan(dst), "test");
  ASSERT_TRUE(status.ok()) << status;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < half; c += 97) EXPECT_EQ(dst[r * half + c], static_cast<float>(r * columns + c));
  }
  // Row slice [1, 2): only row 1's first page is readable besides row 0's.
  ASSERT_EQ(0, mprotect(memory, bytes, PROT_NONE));
  ASSERT_EQ(0, mprotect(static_cast<char*>(memory) + 2 * page, 2 * page, PROT_READ));
  std::vector<float> row(columns);
  status = ReadTensorSliceAsFloat32(DType::kF32, shape,
                                    absl::MakeConstSpan(static_cast<const uint8_t*>(memory), bytes), 0, 1, 2,
                                    absl::MakeSpan(row), "test");
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(row[0], static_cast<float>(columns));
  EXPECT_EQ(row[columns - 1], static_cast<float>(2 * columns - 1));
  munmap(memory, bytes);
}

TEST_F(RankGroupTest, APlanForTp2IsRefusedWithAnyOtherRankCount) {
  RankGroupOptions options = Options();
  options.num_ranks = 3;
  auto group = RankGroup::CreateThreaded(PlanDir(2), options);
  ASSERT_FALSE(group.ok());
  EXPECT_EQ(group.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(group.status().message().find("for tp=2 but 3 rank(s)"), std::string::npos) << group.status();

  // One rank's plan run alone.
  auto plan = LoadedPlan::Load(PlanDir(2), 1);
  ASSERT_TRUE(plan.ok()) << plan.status();
  auto alone = CpuExecutor::Create(*std::move(plan), ExecutorOptions{});
  ASSERT_FALSE(alone.ok());
  EXPECT_NE(alone.status().message().find("needs a group of 2 ranks"), std::string::npos) << alone.status();

  // The single-plan loader points at the way to run a TP directory.
  auto single = LoadedPlan::Load(PlanDir(4));
  ASSERT_FALSE(single.ok());
  EXPECT_NE(single.status().message().find("tensor-parallel plan directory"), std::string::npos);
}

TEST_F(RankGroupTest, ARankThatCannotLoadStopsTheGroupNamingIt) {
  testing::TpPlanTweaks tweaks;
  tweaks.checkpoint_dir = "/nonexistent/bloom-checkpoint";
  const std::string plan_dir = TweakedDir("missing-checkpoint", tweaks);
  auto group = RankGroup::CreateThreaded(plan_dir, Options());
  ASSERT_FALSE(group.ok());
  const std::string message(group.status().message());
  EXPECT_EQ(message.rfind("rank 1: ", 0), 0u) << message;
  EXPECT_NE(message.find("/nonexistent/bloom-checkpoint/model.safetensors"), std::string::npos) << message;
}

TEST_F(RankGroupTest, ARankThatFailsMidStepStopsEveryRankPromptly) {
  // Rank 1's embedding accepts ids [0, 18) only: id 20 fails there, after
  // rank 0 has entered the AllReduce that follows the lookup.
  testing::TpPlanTweaks tweaks;
  tweaks.embedding_vocab_size = 18;
  const std::string plan_dir = TweakedDir("fails-mid-step", tweaks);
  auto group = RankGroup::CreateThreaded(plan_dir, Options());
  ASSERT_TRUE(group.ok()) << group.status();
  KvCache& kv = (*group)->kv_cache();
  auto slot = kv.AddSequence();
  ASSERT_TRUE(slot.ok() && kv.Reserve(*slot, 2).ok());
  const std::vector<int32_t> ids = {20, 3}, positions = {0, 1}, slots = {*slot, *slot}, rows = {1};
  const auto start = std::chrono::steady_clock::now();
  absl::Status status = (*group)->Step(StepBatch{ids, positions, slots, rows});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  ASSERT_FALSE(status.ok());
  const std::string message(status.message());
  EXPECT_EQ(message.rfind("rank 1: ", 0), 0u) << message;
  EXPECT_NE(message.find("token id 20"), std::string::npos) << message;
  // The group stays failed.
  EXPECT_EQ((*group)->Step(StepBatch{ids, positions, slots, rows}), status);
}

TEST_F(RankGroupTest, BadInputIsTheCallersErrorAndLeavesTheGroupUsable) {
  auto group = RankGroup::CreateThreaded(PlanDir(2), Options());
  ASSERT_TRUE(group.ok()) << group.status();
  KvCache& kv = (*group)->kv_cache();
  auto slot = kv.AddSequence();
  ASSERT_TRUE(slot.ok() && kv.Reserve(*slot, 1).ok());
  const std::vector<int32_t> bad = {36}, good = {7}, positions = {0}, slots = {*slot}, rows = {0};
  absl::Status status = (*group)->Step(StepBatch{bad, positions, slots, rows});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("outside the vocabulary [0, 36)"), std::string::npos) << status;
  EXPECT_TRUE((*group)->Step(StepBatch{good, positions, slots, rows}).ok());
}

TEST_F(RankGroupTest, PlansOfDifferentCompilationsAreRefused) {
  testing::TpPlanTweaks tweaks;
  tweaks.max_batch_tokens = 12;
  auto group = RankGroup::CreateThreaded(TweakedDir("mixed-limits", tweaks), Options());
  ASSERT_FALSE(group.ok());
  EXPECT_NE(group.status().message().find("differ from rank 0's"), std::string::npos) << group.status();

  // A stale plan of a third rank next to a tp=2 pair.
  const std::string stale = TweakedDir("stale-rank", {});
  testing::WriteBytes(stale + "/" + plan::RankPlanFileName(2), testing::BuildTpPlan(TpModelDims{}, *dir_, 2, 3));
  group = RankGroup::CreateThreaded(stale, Options());
  ASSERT_FALSE(group.ok());
  EXPECT_NE(group.status().message().find("plan.rank2.bplan: present"), std::string::npos) << group.status();
}

// The executor factory (how the CUDA backend gets its ranks): every rank is
// made on its own thread with its placement among the process's ranks, and
// the group steps whatever the factory returned.
TEST_F(RankGroupTest, FactoryMakesEveryRankWithItsPlacement) {
  std::mutex mu;
  std::vector<std::pair<int, int>> placements;
  RankGroupOptions options = Options();
  options.make_executor = [&](LoadedPlan plan, const ExecutorOptions& executor_options,
                              Communicator& comm, const RankPlacement& placement) {
    {
      std::lock_guard<std::mutex> lock(mu);
      placements.push_back({placement.local_rank, placement.local_size});
    }
    EXPECT_EQ(comm.rank(), placement.local_rank);
    return CpuRankExecutors()(std::move(plan), executor_options, comm, placement);
  };
  auto group = RankGroup::CreateThreaded(PlanDir(3), options);
  ASSERT_TRUE(group.ok()) << group.status();
  std::sort(placements.begin(), placements.end());
  EXPECT_EQ(placements, (std::vector<std::pair<int, int>>{{0, 3}, {1, 3}, {2, 3}}));
  auto tp1 = RankGroup::CreateThreaded(PlanDir(1), Options());
  ASSERT_TRUE(tp1.ok()) << tp1.status();
  auto base = testing::RunTpScenario(**tp1);
  auto got = testing::RunTpScenario(**group);
  ASSERT_TRUE(base.ok() && got.ok());
  ASSERT_EQ(base->size(), got->size());
  for (size_t r = 0; r < base->size(); ++r) {
    for (size_t i = 0; i < (*base)[r].size(); ++i) {
      EXPECT_NEAR((*got)[r][i], (*base)[r][i], 1e-5) << "row " << r << " logit " << i;
    }
  }
  // The CPU backend has no on-device greedy step; the group says so.
  EXPECT_FALSE((*group)->has_greedy_step());
}

// A GPU rank joins a collective while it loads (NCCL's bootstrap). When
// another rank fails to load, the waiting ranks must be released at once and
// the group must report the failed rank's own error, not the peers' aborts
// and not after the collective timeout.
TEST_F(RankGroupTest, RankFailingToLoadReleasesPeersWaitingInACollective) {
  RankGroupOptions options = Options();  // a 60 s collective timeout
  options.make_executor = [](LoadedPlan plan, const ExecutorOptions& executor_options,
                             Communicator& comm, const RankPlacement& placement)
      -> absl::StatusOr<std::unique_ptr<StepExecutor>> {
    if (comm.rank() == 1) return absl::NotFoundError("rank 1's device is gone");
    BLOOM_RETURN_IF_ERROR(comm.Barrier());  // never completes: rank 1 does not come
    return CpuRankExecutors()(std::move(plan), executor_options, comm, placement);
  };
  const auto start = std::chrono::steady_clock::now();
  auto group = RankGroup::CreateThreaded(PlanDir(3), options);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(group.ok());
  EXPECT_EQ(group.status().code(), absl::StatusCode::kNotFound) << group.status();
  EXPECT_NE(group.status().message().find("rank 1: rank 1's device is gone"), std::string::npos)
      << group.status();
  EXPECT_LT(seconds, 10.0) << "peers waited for the collective timeout";
}

}  // namespace
}  // namespace bloom
