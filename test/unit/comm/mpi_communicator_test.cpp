// Tests the MPI communicator under mpirun (CTest runs it with -np 3): each
// rank computes every rank's input itself, so the expected sums and gathers
// come from the test, not from MPI; the sum must be the rank-order sum, bit
// for bit, on every rank (the threaded group's bits). Send/Recv: ordered
// messages between ranks 0 and 1, a ring over all ranks, a byte count
// mismatch that leaves the message receivable. CTest runs it with -np 2 and
// -np 3; alone (one rank) the point-to-point tests skip. The chunked path
// (messages above INT_MAX bytes, 4 GiB of memory in all) runs only with
// BLOOM_MPI_LARGE_TEST=1.
#include <gtest/gtest.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "runtime/comm/agree_on_status.h"
#include "runtime/comm/mpi_communicator.h"
#include "test/unit/comm/message_bytes.h"

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

TEST(MpiCommunicatorTest, SendRecvKeepsTheOrderBetweenTwoRanks) {
  if (comm->size() < 2) GTEST_SKIP() << "needs 2 ranks";
  const std::vector<size_t> sizes = {16, 0, 1, 1 << 20, 3};
  for (size_t k = 0; k < sizes.size(); ++k) {
    const std::vector<char> expected = MessageBytes(0, k, sizes[k]);
    if (comm->rank() == 0) {
      ASSERT_TRUE(comm->Send(expected.data(), expected.size(), 1).ok());
    } else if (comm->rank() == 1) {
      std::vector<char> got(sizes[k]);
      ASSERT_TRUE(comm->Recv(got.data(), got.size(), 0).ok());
      EXPECT_EQ(got, expected) << k;
    }
  }
  EXPECT_TRUE(comm->Barrier().ok());
}

TEST(MpiCommunicatorTest, RingPassesEveryRanksTokenAround) {
  const int n = comm->size();
  if (n < 2) GTEST_SKIP() << "needs 2 ranks";
  const int rank = comm->rank();
  int token = 100 + rank;
  std::vector<int> seen;
  for (int round = 0; round < n; ++round) {
    // Rank 0 sends first and the others receive first, so that no cycle of
    // blocking sends can form.
    const int held = token;
    if (rank == 0) ASSERT_TRUE(comm->Send(&held, sizeof(held), 1 % n).ok());
    ASSERT_TRUE(comm->Recv(&token, sizeof(token), (rank + n - 1) % n).ok());
    if (rank != 0) ASSERT_TRUE(comm->Send(&held, sizeof(held), (rank + 1) % n).ok());
    seen.push_back(token);
  }
  std::vector<int> expected;
  for (int k = 1; k <= n; ++k) expected.push_back(100 + (rank + n - k % n) % n);
  EXPECT_EQ(seen, expected);
}

TEST(MpiCommunicatorTest, ByteCountMismatchNamesBothCountsAndRanks) {
  if (comm->size() < 2) GTEST_SKIP() << "needs 2 ranks";
  char buffer[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  if (comm->rank() == 0) {
    ASSERT_TRUE(comm->Send(buffer, sizeof(buffer), 1).ok());
  } else if (comm->rank() == 1) {
    char got[8] = {0};
    const absl::Status status = comm->Recv(got, 4, 0);
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << status;
    EXPECT_EQ(status.message(), "Recv: rank 0 sent 8 bytes but rank 1 expected 4 (the ranks' plans disagree)");
    // Nothing was received: the message is still there, whole.
    ASSERT_TRUE(comm->Recv(got, sizeof(got), 0).ok());
    EXPECT_EQ(0, std::memcmp(got, buffer, sizeof(got)));
  }
  EXPECT_TRUE(comm->Barrier().ok());
}

TEST(MpiCommunicatorTest, SendRecvRefuseABadPeer) {
  char byte = 0;
  for (int peer : {-1, comm->rank(), comm->size()}) {
    EXPECT_EQ(comm->Send(&byte, 1, peer).code(), absl::StatusCode::kInvalidArgument) << peer;
    EXPECT_EQ(comm->Recv(&byte, 1, peer).code(), absl::StatusCode::kInvalidArgument) << peer;
  }
}

TEST(MpiCommunicatorTest, SendRecvChunksMessagesAboveIntMax) {
  if (comm->size() < 2) GTEST_SKIP() << "needs 2 ranks";
  const char* large = std::getenv("BLOOM_MPI_LARGE_TEST");
  if (large == nullptr || std::string(large) != "1") GTEST_SKIP() << "set BLOOM_MPI_LARGE_TEST=1";
  const size_t bytes = size_t{INT_MAX} + 17;
  if (comm->rank() == 0) {
    std::vector<char> data(bytes);
    for (size_t i = 0; i < bytes; ++i) data[i] = static_cast<char>(i % 251);
    ASSERT_TRUE(comm->Send(data.data(), bytes, 1).ok());
    // A whole message against a large expectation is a mismatch that leaves
    // it receivable. (The other way round, the header is consumed and the
    // pair's stream is broken: the caller aborts.)
    ASSERT_TRUE(comm->Send(data.data(), 5, 1).ok());
  } else if (comm->rank() == 1) {
    std::vector<char> got(bytes);
    ASSERT_TRUE(comm->Recv(got.data(), bytes, 0).ok());
    size_t wrong = 0;
    for (size_t i = 0; i < bytes; ++i) wrong += got[i] != static_cast<char>(i % 251);
    EXPECT_EQ(wrong, 0u);
    const absl::Status big = comm->Recv(got.data(), bytes, 0);
    EXPECT_NE(big.message().find("rank 0 sent 5 bytes but rank 1 expected " + std::to_string(bytes)),
              std::string::npos)
        << big;
    ASSERT_TRUE(comm->Recv(got.data(), 5, 0).ok());
  }
  EXPECT_TRUE(comm->Barrier().ok());
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
