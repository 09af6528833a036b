// Tests the threaded communicator: collectives against sums and copies the
// test computes itself, results identical bit for bit on every rank, the
// poison path (Abort) and the timeout release every waiting rank with an
// error naming the failed one, and AgreeOnStatus hands every rank the
// lowest failed rank's error.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <random>
#include <thread>
#include <vector>

#include "runtime/comm/agree_on_status.h"
#include "runtime/comm/thread_communicator.h"

namespace bloom {
namespace {

// Runs fn(rank, comm) on a thread per rank and joins them.
void RunRanks(int n, absl::Duration timeout, const std::function<void(int, Communicator&)>& fn) {
  auto group = ThreadCommunicator::CreateGroup(n, timeout);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) threads.emplace_back([&, r] { fn(r, *group[r]); });
  for (auto& t : threads) t.join();
}

std::vector<float> RankData(int rank, size_t count) {
  std::mt19937 rng(100 + rank);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(count);
  for (float& x : v) x = u(rng);
  return v;
}

TEST(ThreadCommunicatorTest, AllReduceSumIsTheRankOrderSumOnEveryRank) {
  for (int n : {1, 2, 3, 5}) {
    for (size_t count : {size_t{0}, size_t{1}, size_t{7}, size_t{1000}}) {
      // Expected: ((x0 + x1) + x2) + ... in float, the documented order.
      std::vector<float> expected = RankData(0, count);
      for (int r = 1; r < n; ++r) {
        std::vector<float> x = RankData(r, count);
        for (size_t i = 0; i < count; ++i) expected[i] += x[i];
      }
      std::vector<std::vector<float>> got(n);
      RunRanks(n, absl::Seconds(30), [&](int rank, Communicator& comm) {
        got[rank] = RankData(rank, count);
        ASSERT_TRUE(comm.AllReduceSum(got[rank].data(), count).ok());
      });
      for (int r = 0; r < n; ++r) {
        ASSERT_EQ(got[r].size(), count);
        // An empty vector's data() may be null, which memcmp may not be
        // given even for 0 bytes (UBSan): count 0 has nothing to compare.
        if (count == 0) continue;
        EXPECT_EQ(0, std::memcmp(got[r].data(), expected.data(), count * sizeof(float)))
            << "n=" << n << " count=" << count << " rank " << r;
      }
    }
  }
}

TEST(ThreadCommunicatorTest, AllGatherPutsRanksInOrder) {
  const int n = 3;
  const size_t count = 4;
  std::vector<std::vector<float>> got(n, std::vector<float>(n * count, -1.f));
  RunRanks(n, absl::Seconds(30), [&](int rank, Communicator& comm) {
    std::vector<float> in(count);
    for (size_t i = 0; i < count; ++i) in[i] = 10.f * rank + i;
    // Twice, so that reuse of the shared table between collectives is exercised.
    ASSERT_TRUE(comm.AllGather(in.data(), count, got[rank].data()).ok());
    ASSERT_TRUE(comm.AllGather(in.data(), count, got[rank].data()).ok());
  });
  for (int r = 0; r < n; ++r) {
    for (int src = 0; src < n; ++src) {
      for (size_t i = 0; i < count; ++i) EXPECT_EQ(got[r][src * count + i], 10.f * src + i);
    }
  }
}

TEST(ThreadCommunicatorTest, BroadcastCopiesTheRootsBytes) {
  const int n = 4;
  std::vector<std::vector<int>> got(n);
  RunRanks(n, absl::Seconds(30), [&](int rank, Communicator& comm) {
    got[rank] = {rank, rank * 2, rank * 3};
    ASSERT_TRUE(comm.Broadcast(got[rank].data(), got[rank].size() * sizeof(int), 2).ok());
    ASSERT_TRUE(comm.Barrier().ok());
  });
  for (int r = 0; r < n; ++r) EXPECT_EQ(got[r], (std::vector<int>{2, 4, 6}));
}

TEST(ThreadCommunicatorTest, AbortReleasesWaitingRanksWithTheCause) {
  const int n = 3;
  std::vector<absl::Status> results(n);
  const auto start = std::chrono::steady_clock::now();
  // A long timeout: only the poison can release the waiting ranks quickly.
  RunRanks(n, absl::Seconds(60), [&](int rank, Communicator& comm) {
    std::vector<float> x(8, 1.f);
    if (rank == 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      comm.Abort(absl::DataLossError("checkpoint shard vanished"));
      return;
    }
    results[rank] = comm.AllReduceSum(x.data(), x.size());
    // Every later collective fails too.
    if (results[rank].code() == absl::StatusCode::kAborted) results[rank] = comm.Barrier();
  });
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  for (int r : {0, 1}) {
    EXPECT_EQ(results[r].code(), absl::StatusCode::kAborted) << results[r];
    EXPECT_NE(results[r].message().find("rank 2 failed: checkpoint shard vanished"), std::string::npos)
        << results[r];
  }
}

TEST(ThreadCommunicatorTest, TimeoutNamesTheRankThatNeverArrived) {
  const int n = 3;
  std::vector<absl::Status> results(n);
  RunRanks(n, absl::Milliseconds(200), [&](int rank, Communicator& comm) {
    if (rank == 1) return;  // hangs, as far as the others can tell
    float x = 1.f;
    results[rank] = comm.AllReduceSum(&x, 1);
  });
  for (int r : {0, 2}) {
    EXPECT_FALSE(results[r].ok());
    EXPECT_NE(results[r].message().find("rank(s) 1,"), std::string::npos) << results[r];
  }
}

TEST(ThreadCommunicatorTest, MismatchedCountsFailOnEveryRank) {
  const int n = 2;
  std::vector<absl::Status> results(n);
  RunRanks(n, absl::Seconds(30), [&](int rank, Communicator& comm) {
    std::vector<float> x(4, 1.f);
    results[rank] = comm.AllReduceSum(x.data(), rank == 0 ? 4 : 3);
  });
  for (int r = 0; r < n; ++r) EXPECT_EQ(results[r].code(), absl::StatusCode::kInternal) << results[r];
}

TEST(AgreeOnStatusTest, EveryRankGetsTheLowestFailedRanksError) {
  const int n = 4;
  std::vector<absl::Status> results(n);
  RunRanks(n, absl::Seconds(30), [&](int rank, Communicator& comm) {
    absl::Status local = absl::OkStatus();
    if (rank == 1) local = absl::NotFoundError("plan.rank1.bplan: cannot open");
    if (rank == 3) local = absl::InternalError("something else");
    results[rank] = AgreeOnStatus(comm, local);
  });
  for (int r = 0; r < n; ++r) {
    EXPECT_EQ(results[r].code(), absl::StatusCode::kNotFound) << r;
    EXPECT_EQ(results[r].message(), "rank 1: plan.rank1.bplan: cannot open") << r;
  }
  RunRanks(n, absl::Seconds(30), [&](int rank, Communicator& comm) {
    results[rank] = AgreeOnStatus(comm, absl::OkStatus());
  });
  for (int r = 0; r < n; ++r) EXPECT_TRUE(results[r].ok()) << results[r];
}

}  // namespace
}  // namespace bloom
