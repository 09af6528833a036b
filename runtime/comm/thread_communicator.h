// Ranks as threads of one process (the single-node CPU default, and the
// transport of tests). The ranks of a group share one ThreadGroupState: a
// table where each rank publishes the addresses of its buffers, and a
// barrier that can be poisoned.
//
// Each collective is a few barrier phases around plain memory copies:
//   AllReduceSum: publish → barrier → rank r sums its chunk of the elements
//     over ranks 0, 1, ..., N-1 (that fixed order) into a private buffer →
//     barrier (all inputs read) → rank r writes its chunk into every rank's
//     buffer → barrier. Each element is summed once, so every rank holds the
//     same bits, and they equal MpiCommunicator's (same order).
//   AllGather, Broadcast: publish → barrier → copy from the peers → barrier
//     (so no rank overwrites an input a peer still reads).
// Send/Recv (pipeline parallelism) use a mailbox per (from, to) pair: Send
// copies the bytes into a FIFO and returns; Recv waits for the front message
// of its pair and checks that both sides named the same byte count.
// A rank that waits longer than the timeout at a barrier or in Recv poisons
// the group itself, naming the ranks that never arrived (the peer that never
// sent); Abort() poisons it with the caller's cause. A poisoned group fails
// every pending and later call, Send and Recv included.
#pragma once

#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "runtime/comm/communicator.h"

namespace bloom {

struct ThreadGroupState;

class ThreadCommunicator : public Communicator {
 public:
  // One communicator per rank, index = rank. `timeout` bounds every wait at
  // a barrier (a peer that hangs or died without calling Abort).
  static std::vector<std::unique_ptr<ThreadCommunicator>> CreateGroup(int size,
                                                                      absl::Duration timeout);

  int rank() const override { return rank_; }
  int size() const override;
  MemorySpace memory_space() const override { return MemorySpace::kHost; }
  const char* transport() const override { return "threads"; }

  absl::Status AllReduceSum(float* data, size_t count) override;
  absl::Status AllGather(const float* in, size_t count, float* out) override;
  absl::Status Broadcast(void* data, size_t bytes, int root) override;
  absl::Status Barrier() override;
  absl::Status Send(const void* data, size_t bytes, int peer) override;
  absl::Status Recv(void* data, size_t bytes, int peer) override;
  // A group of the ranks that pass `color`, ranked by `key` then rank,
  // with this group's timeout (two barriers of this group).
  absl::StatusOr<std::unique_ptr<Communicator>> Split(int color, int key) override;
  void Abort(const absl::Status& cause) override;

 private:
  ThreadCommunicator(std::shared_ptr<ThreadGroupState> state, int rank)
      : state_(std::move(state)), rank_(rank) {}
  // Publishes this rank's buffer addresses and element count for a
  // collective, waits for every rank, and checks that all counts agree.
  absl::Status Publish(const char* what, const void* in, void* out, size_t count);
  absl::Status Wait(const char* what);

  std::shared_ptr<ThreadGroupState> state_;
  int rank_;
  std::vector<float> partial_;  // AllReduceSum's chunk, private to this rank
};

}  // namespace bloom
