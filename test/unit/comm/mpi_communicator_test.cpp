// Tests the MPI communicator under mpirun (CTest runs it with -np 3): each
// rank computes every rank's input itself, so the expected sums and gathers
// come from the test, not from MPI; the sum must be the rank-order sum, bit
// for bit, on every rank (the threaded group's bits). Also run alone (one
// rank) as a plain test.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "runtime/comm/agree_on_status.h"
#include "runtime/comm/mpi_communicator.h"

namespace bloom {
namespace {

MpiCommunicator* comm = nullptr;

std::vector<float> RankData(int rank, size_t count) {
  std::mt19937 rng(500 + rank);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(count);
  for (float& x : v) x = u(rng);
  return v;
}

TEST(MpiCommunicatorTest, AllReduceSumIsTheRankOrderSum) {
  for (size_t count : {size_t{1}, size_t{17}, size_t{4096}}) {
    std::vector<float> expected = RankData(0, count);
    for (int r = 1; r < comm->size(); ++r) {
      const std::vector<float> x = RankData(r, count);
      for (size_t i = 0; i < count; ++i) expected[i] += x[i];
    }
    std::vector<float> data = RankData(comm->rank(), count);
    ASSERT_TRUE(comm->AllReduceSum(data.data(), count).ok());
    EXPECT_EQ(0, std::memcmp(data.data(), expected.data(), count * sizeof(float))) << "count " << count;
  }
}

TEST(MpiCommunicatorTest, AllGatherAndBroadcast) {
  const size_t count = 5;
  std::vector<float> in(count), out(count * comm->size());
  for (size_t i = 0; i < count; ++i) in[i] = 100.f * comm->rank() + i;
  ASSERT_TRUE(comm->AllGather(in.data(), count, out.data()).ok());
  for (int r = 0; r < comm->size(); ++r) {
    for (size_t i = 0; i < count; ++i) EXPECT_EQ(out[r * count + i], 100.f * r + i);
  }
  const int root = comm->size() - 1;
  int value[2] = {comm->rank(), 7 * comm->rank()};
  ASSERT_TRUE(comm->Broadcast(value, sizeof(value), root).ok());
  EXPECT_EQ(value[0], root);
  EXPECT_EQ(value[1], 7 * root);
  EXPECT_TRUE(comm->Barrier().ok());
}

TEST(MpiCommunicatorTest, AgreeOnStatusNamesTheLowestFailedRank) {
  const int failing = comm->size() - 1;
  absl::Status local = comm->rank() == failing ? absl::NotFoundError("no such file") : absl::OkStatus();
  absl::Status agreed = AgreeOnStatus(*comm, local);
  EXPECT_EQ(agreed.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(agreed.message(), "rank " + std::to_string(failing) + ": no such file");
  EXPECT_TRUE(AgreeOnStatus(*comm, absl::OkStatus()).ok());
}

}  // namespace
}  // namespace bloom

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto created = bloom::MpiCommunicator::Create();
  if (!created.ok()) {
    std::fprintf(stderr, "mpi_communicator_test: %s\n", std::string(created.status().message()).c_str());
    return 1;
  }
  std::unique_ptr<bloom::MpiCommunicator> owner = *std::move(created);
  bloom::comm = owner.get();
  // Only rank 0 prints, so that the ranks' reports do not interleave.
  if (bloom::comm->rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int result = RUN_ALL_TESTS();
  // Every rank must pass: a failure on any rank fails the job.
  float failed = result != 0 ? 1.f : 0.f;
  if (!bloom::comm->AllReduceSum(&failed, 1).ok()) return 1;
  return failed != 0.f ? 1 : 0;
}
