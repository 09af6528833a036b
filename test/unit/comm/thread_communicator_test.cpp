// Tests the threaded communicator: collectives against sums and copies the
// test computes itself, results identical bit for bit on every rank, the
// poison path (Abort) and the timeout release every waiting rank with an
// error naming the failed one, and AgreeOnStatus hands every rank the
// lowest failed rank's error. Send/Recv: messages arrive in order per pair
// with the bytes the sender had at Send time, byte count mismatches, Abort
// and the timeout release a blocked Recv.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <random>
#include <thread>
#include <vector>

#include "runtime/comm/agree_on_status.h"
#include "runtime/comm/thread_communicator.h"
#include "test/unit/comm/message_bytes.h"

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

// Six ranks split by rank % 3 with keys that reverse the order: three
// groups of two, ranked by key; an all-reduce in each sums only its own
// members' values; a second split (one group of all, by rank) works after.
TEST(ThreadCommunicatorTest, SplitMakesGroupsRankedByKey) {
  constexpr int n = 6;
  std::vector<int> sub_rank(n, -1), sub_size(n, -1), again_rank(n, -1);
  std::vector<float> sums(n, 0.f);
  RunRanks(n, absl::Seconds(30), [&](int rank, Communicator& comm) {
    auto sub = comm.Split(rank % 3, n - rank);
    ASSERT_TRUE(sub.ok()) << sub.status();
    sub_rank[rank] = (*sub)->rank();
    sub_size[rank] = (*sub)->size();
    float value = static_cast<float>(rank + 1);
    ASSERT_TRUE((*sub)->AllReduceSum(&value, 1).ok());
    sums[rank] = value;
    auto all = comm.Split(0, rank);
    ASSERT_TRUE(all.ok()) << all.status();
    again_rank[rank] = (*all)->rank();
  });
  for (int r = 0; r < n; ++r) {
    EXPECT_EQ(sub_size[r], 2) << r;
    // Ranks r and r + 3 share a color; the larger key (n - r) goes last.
    EXPECT_EQ(sub_rank[r], r < 3 ? 1 : 0) << r;
    EXPECT_EQ(sums[r], static_cast<float>((r % 3 + 1) + (r % 3 + 4))) << r;
    EXPECT_EQ(again_rank[r], r);
  }
}

TEST(ThreadCommunicatorTest, SendRecvKeepsTheOrderBetweenTwoRanks) {
  const std::vector<size_t> sizes = {16, 0, 1, 4096, 3};
  std::vector<std::vector<char>> got(sizes.size());
  RunRanks(2, absl::Seconds(30), [&](int rank, Communicator& comm) {
    for (size_t k = 0; k < sizes.size(); ++k) {
      if (rank == 0) {
        const std::vector<char> m = MessageBytes(0, k, sizes[k]);
        ASSERT_TRUE(comm.Send(m.data(), m.size(), 1).ok());
      } else {
        got[k].resize(sizes[k]);
        ASSERT_TRUE(comm.Recv(got[k].data(), sizes[k], 0).ok());
      }
    }
  });
  for (size_t k = 0; k < sizes.size(); ++k) EXPECT_EQ(got[k], MessageBytes(0, k, sizes[k])) << k;
}

TEST(ThreadCommunicatorTest, SendRecvKeepsTheOrderPerPairAmongThreeRanks) {
  // Ranks 0 and 1 both send to 2, interleaved; 2 drains rank 1's messages
  // first, then rank 0's: each pair is its own FIFO.
  const int messages = 4;
  std::vector<std::vector<char>> from0(messages), from1(messages);
  RunRanks(3, absl::Seconds(30), [&](int rank, Communicator& comm) {
    if (rank < 2) {
      for (int k = 0; k < messages; ++k) {
        const std::vector<char> m = MessageBytes(rank, k, 8 + k + rank);
        ASSERT_TRUE(comm.Send(m.data(), m.size(), 2).ok());
      }
      return;
    }
    for (int k = 0; k < messages; ++k) {
      from1[k].resize(8 + k + 1);
      ASSERT_TRUE(comm.Recv(from1[k].data(), from1[k].size(), 1).ok());
    }
    for (int k = 0; k < messages; ++k) {
      from0[k].resize(8 + k);
      ASSERT_TRUE(comm.Recv(from0[k].data(), from0[k].size(), 0).ok());
    }
  });
  for (int k = 0; k < messages; ++k) {
    EXPECT_EQ(from0[k], MessageBytes(0, k, 8 + k)) << k;
    EXPECT_EQ(from1[k], MessageBytes(1, k, 8 + k + 1)) << k;
  }
}

TEST(ThreadCommunicatorTest, SendCopiesTheBytesAndReturnsBeforeTheRecv) {
  std::vector<int> got(3, -1);
  RunRanks(2, absl::Seconds(30), [&](int rank, Communicator& comm) {
    if (rank == 0) {
      std::vector<int> data = {1, 2, 3};
      ASSERT_TRUE(comm.Send(data.data(), data.size() * sizeof(int), 1).ok());
      data = {9, 9, 9};  // after Send: the peer must not see it
      ASSERT_TRUE(comm.Barrier().ok());
    } else {
      // Rank 0 reaches the barrier only if its Send returned unreceived.
      ASSERT_TRUE(comm.Barrier().ok());
      ASSERT_TRUE(comm.Recv(got.data(), got.size() * sizeof(int), 0).ok());
    }
  });
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));
}

TEST(ThreadCommunicatorTest, RingPassesEveryRanksTokenAround) {
  // Each round, rank r forwards what it holds to r + 1 and takes what r - 1
  // held: after n rounds every rank has seen every rank's token, in the
  // order r - 1, r - 2, ..., r.
  const int n = 4;
  std::vector<std::vector<int>> seen(n);
  RunRanks(n, absl::Seconds(30), [&](int rank, Communicator& comm) {
    int token = 100 + rank;
    for (int round = 0; round < n; ++round) {
      ASSERT_TRUE(comm.Send(&token, sizeof(token), (rank + 1) % n).ok());
      ASSERT_TRUE(comm.Recv(&token, sizeof(token), (rank + n - 1) % n).ok());
      seen[rank].push_back(token);
    }
  });
  for (int r = 0; r < n; ++r) {
    std::vector<int> expected;
    for (int k = 1; k <= n; ++k) expected.push_back(100 + (r + n - k % n) % n);
    EXPECT_EQ(seen[r], expected) << "rank " << r;
  }
}

TEST(ThreadCommunicatorTest, ByteCountMismatchNamesBothCountsAndRanks) {
  std::vector<absl::Status> results(2);
  RunRanks(2, absl::Seconds(30), [&](int rank, Communicator& comm) {
    char buffer[8] = {0};
    if (rank == 0) {
      ASSERT_TRUE(comm.Send(buffer, 8, 1).ok());
      // The sender learns of the failure at its next call (released by the
      // poison, not the timeout).
      results[0] = comm.Barrier();
    } else {
      results[1] = comm.Recv(buffer, 4, 0);
    }
  });
  EXPECT_EQ(results[1].code(), absl::StatusCode::kInternal) << results[1];
  EXPECT_NE(results[1].message().find("rank 0 sent 8 bytes but rank 1 expected 4"), std::string::npos)
      << results[1];
  EXPECT_FALSE(results[0].ok());
  EXPECT_NE(results[0].message().find("rank 0 sent 8 bytes but rank 1 expected 4"), std::string::npos)
      << results[0];
}

TEST(ThreadCommunicatorTest, AbortWakesABlockedRecvWithTheCause) {
  std::vector<absl::Status> results(3);
  const auto start = std::chrono::steady_clock::now();
  // A long timeout: only the poison can release the receivers quickly.
  RunRanks(3, absl::Seconds(60), [&](int rank, Communicator& comm) {
    if (rank == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      comm.Abort(absl::DataLossError("stage 0 ran out of memory"));
      return;
    }
    char byte = 0;
    results[rank] = comm.Recv(&byte, 1, 0);
    // Later sends fail too.
    if (results[rank].code() == absl::StatusCode::kAborted) results[rank] = comm.Send(&byte, 1, 3 - rank);
  });
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  for (int r : {1, 2}) {
    EXPECT_EQ(results[r].code(), absl::StatusCode::kAborted) << results[r];
    EXPECT_NE(results[r].message().find("rank 0 failed: stage 0 ran out of memory"), std::string::npos)
        << results[r];
  }
}

TEST(ThreadCommunicatorTest, RecvTimeoutNamesThePeerThatNeverSent) {
  std::vector<absl::Status> results(3);
  RunRanks(3, absl::Milliseconds(200), [&](int rank, Communicator& comm) {
    if (rank != 2) return;  // rank 1 hangs, as far as rank 2 can tell
    char byte = 0;
    results[2] = comm.Recv(&byte, 1, 1);
    // The group is poisoned: a later Send fails at once.
    results[0] = comm.Send(&byte, 1, 0);
  });
  EXPECT_EQ(results[2].code(), absl::StatusCode::kDeadlineExceeded) << results[2];
  EXPECT_NE(results[2].message().find("rank 2 waited 200ms in Recv for a message from rank 1"),
            std::string::npos)
      << results[2];
  EXPECT_EQ(results[0].code(), absl::StatusCode::kAborted) << results[0];
}

TEST(ThreadCommunicatorTest, SendRecvRefuseABadPeer) {
  auto group = ThreadCommunicator::CreateGroup(2, absl::Seconds(30));
  char byte = 0;
  for (int peer : {-1, 0, 2}) {
    EXPECT_EQ(group[0]->Send(&byte, 1, peer).code(), absl::StatusCode::kInvalidArgument) << peer;
    EXPECT_EQ(group[0]->Recv(&byte, 1, peer).code(), absl::StatusCode::kInvalidArgument) << peer;
  }
  EXPECT_NE(group[0]->Send(&byte, 1, 5).message().find("rank 0 named peer 5"), std::string::npos);
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
