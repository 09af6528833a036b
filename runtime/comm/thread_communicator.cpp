#include "runtime/comm/thread_communicator.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace bloom {

// What the ranks of one group share. Guarded by `mu` except the slot
// vectors, which rank r writes only before a barrier and peers read only
// between that barrier and the next (the barrier's mutex orders them).
struct ThreadGroupState {
  explicit ThreadGroupState(int n, absl::Duration t)
      : size(n), timeout(t), arrived_flags(n, false), mailboxes(n * n), in(n), out(n), counts(n) {}

  const int size;
  const absl::Duration timeout;

  std::mutex mu;
  std::condition_variable cv;
  int arrived = 0;
  uint64_t generation = 0;
  std::vector<bool> arrived_flags;  // who is waiting at the current barrier
  bool poisoned = false;
  std::string poison;  // "rank 2 failed: ..." once poisoned
  // Sent and not yet received messages, mailboxes[from * size + to], oldest
  // first. Unbounded: a pipeline stage sends a few hidden states ahead at most.
  std::vector<std::deque<std::vector<char>>> mailboxes;

  std::vector<const void*> in;
  std::vector<void*> out;
  std::vector<size_t> counts;
  // Split: each rank's (color, key), and the sub-group a color's first
  // member made, for the others to join (both between the split's two
  // barriers).
  std::vector<std::pair<int, int>> split_keys;
  std::map<int, std::shared_ptr<ThreadGroupState>> split_groups;
};

namespace {

absl::Status PoisonedError(const std::string& why) {
  return absl::AbortedError(absl::StrCat("thread group stopped: ", why));
}

}  // namespace

std::vector<std::unique_ptr<ThreadCommunicator>> ThreadCommunicator::CreateGroup(
    int size, absl::Duration timeout) {
  auto state = std::make_shared<ThreadGroupState>(size, timeout);
  std::vector<std::unique_ptr<ThreadCommunicator>> group;
  for (int r = 0; r < size; ++r) group.emplace_back(new ThreadCommunicator(state, r));
  return group;
}

int ThreadCommunicator::size() const { return state_->size; }

absl::Status ThreadCommunicator::Wait(const char* what) {
  ThreadGroupState& s = *state_;
  std::unique_lock<std::mutex> lock(s.mu);
  if (s.poisoned) return PoisonedError(s.poison);
  const uint64_t generation = s.generation;
  s.arrived_flags[rank_] = true;
  if (++s.arrived == s.size) {
    s.arrived = 0;
    std::fill(s.arrived_flags.begin(), s.arrived_flags.end(), false);
    ++s.generation;
    s.cv.notify_all();
    return absl::OkStatus();
  }
  const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(s.timeout);
  while (s.generation == generation && !s.poisoned) {
    if (s.cv.wait_until(lock, deadline) == std::cv_status::timeout && s.generation == generation &&
        !s.poisoned) {
      std::vector<int> missing;
      for (int r = 0; r < s.size; ++r) {
        if (!s.arrived_flags[r]) missing.push_back(r);
      }
      s.poisoned = true;
      s.poison = absl::StrCat("rank ", rank_, " waited ", absl::FormatDuration(s.timeout), " in ",
                              what, " for rank(s) ", absl::StrJoin(missing, ", "),
                              ", which never arrived (hung, or failed without reporting)");
      s.cv.notify_all();
      return absl::DeadlineExceededError(s.poison);
    }
  }
  // A barrier that completed before a later poisoning still succeeded.
  if (s.generation != generation) return absl::OkStatus();
  return PoisonedError(s.poison);
}

absl::Status ThreadCommunicator::Publish(const char* what, const void* in, void* out, size_t count) {
  ThreadGroupState& s = *state_;
  s.in[rank_] = in;
  s.out[rank_] = out;
  s.counts[rank_] = count;
  if (auto status = Wait(what); !status.ok()) return status;
  // Every rank sees the same table, so a mismatch fails all ranks alike
  // without further waiting.
  for (int r = 0; r < s.size; ++r) {
    if (s.counts[r] != count) {
      return absl::InternalError(absl::StrCat(what, ": rank ", rank_, " has ", count,
                                              " elements but rank ", r, " has ", s.counts[r],
                                              " (the ranks' plans disagree)"));
    }
  }
  return absl::OkStatus();
}

absl::Status ThreadCommunicator::AllReduceSum(float* data, size_t count) {
  ThreadGroupState& s = *state_;
  if (auto status = Publish("AllReduceSum", data, data, count); !status.ok()) return status;
  const size_t begin = count * rank_ / s.size;
  const size_t end = count * (rank_ + 1) / s.size;
  partial_.resize(end - begin);
  for (size_t i = begin; i < end; ++i) {
    float sum = static_cast<const float*>(s.in[0])[i];
    for (int r = 1; r < s.size; ++r) sum += static_cast<const float*>(s.in[r])[i];
    partial_[i - begin] = sum;
  }
  if (auto status = Wait("AllReduceSum"); !status.ok()) return status;
  // With fewer elements than ranks some slices are empty, and an empty
  // partial_ (or a rank's empty buffer) may have a null data(): memcpy's
  // pointers must be valid even for 0 bytes (UBSan reported it), so an empty
  // slice copies nothing. Every rank still waits below.
  for (int r = 0; r < s.size && !partial_.empty(); ++r) {
    std::memcpy(static_cast<float*>(s.out[r]) + begin, partial_.data(), partial_.size() * sizeof(float));
  }
  return Wait("AllReduceSum");
}

absl::Status ThreadCommunicator::AllGather(const float* in, size_t count, float* out) {
  ThreadGroupState& s = *state_;
  if (auto status = Publish("AllGather", in, out, count); !status.ok()) return status;
  for (int r = 0; r < s.size; ++r) {
    std::memcpy(out + count * r, s.in[r], count * sizeof(float));
  }
  return Wait("AllGather");
}

absl::Status ThreadCommunicator::Broadcast(void* data, size_t bytes, int root) {
  ThreadGroupState& s = *state_;
  if (root < 0 || root >= s.size) {
    return absl::InvalidArgumentError(absl::StrCat("Broadcast: root ", root, " is not a rank of ", s.size));
  }
  if (auto status = Publish("Broadcast", data, data, bytes); !status.ok()) return status;
  if (rank_ != root) std::memcpy(data, s.in[root], bytes);
  return Wait("Broadcast");
}

absl::Status ThreadCommunicator::Barrier() { return Wait("Barrier"); }

absl::StatusOr<std::unique_ptr<Communicator>> ThreadCommunicator::Split(int color, int key) {
  ThreadGroupState& s = *state_;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.split_keys.resize(s.size);
    s.split_keys[rank_] = {color, key};
  }
  if (absl::Status arrived = Wait("Split"); !arrived.ok()) return arrived;
  // Every rank sees every (color, key) now; a color's members rank by key,
  // then by rank, and the first of them makes the sub-group.
  std::vector<std::pair<int, int>> members;  // (key, rank)
  {
    std::lock_guard<std::mutex> lock(s.mu);
    for (int r = 0; r < s.size; ++r) {
      if (s.split_keys[r].first == color) members.emplace_back(s.split_keys[r].second, r);
    }
  }
  std::sort(members.begin(), members.end());
  int sub_rank = 0;
  while (members[sub_rank].second != rank_) ++sub_rank;
  if (sub_rank == 0) {
    std::lock_guard<std::mutex> lock(s.mu);
    s.split_groups[color] =
        std::make_shared<ThreadGroupState>(static_cast<int>(members.size()), s.timeout);
  }
  if (absl::Status made = Wait("Split"); !made.ok()) return made;
  std::shared_ptr<ThreadGroupState> sub;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    sub = s.split_groups[color];
  }
  // The next Split overwrites split_groups only after its first barrier,
  // which every rank reaches after this read.
  return std::unique_ptr<Communicator>(new ThreadCommunicator(std::move(sub), sub_rank));
}

absl::Status ThreadCommunicator::Send(const void* data, size_t bytes, int peer) {
  if (auto status = CheckPeer("Send", peer); !status.ok()) return status;
  // Copied before taking the lock, so that peers do not wait on the copy.
  // An empty message's pointer may be null, which memcpy may not be given.
  std::vector<char> message(bytes);
  if (bytes > 0) std::memcpy(message.data(), data, bytes);
  ThreadGroupState& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.poisoned) return PoisonedError(s.poison);
  s.mailboxes[rank_ * s.size + peer].push_back(std::move(message));
  s.cv.notify_all();
  return absl::OkStatus();
}

absl::Status ThreadCommunicator::Recv(void* data, size_t bytes, int peer) {
  if (auto status = CheckPeer("Recv", peer); !status.ok()) return status;
  ThreadGroupState& s = *state_;
  std::unique_lock<std::mutex> lock(s.mu);
  std::deque<std::vector<char>>& mailbox = s.mailboxes[peer * s.size + rank_];
  const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(s.timeout);
  while (mailbox.empty() && !s.poisoned) {
    if (s.cv.wait_until(lock, deadline) == std::cv_status::timeout && mailbox.empty() &&
        !s.poisoned) {
      s.poisoned = true;
      s.poison = absl::StrCat("rank ", rank_, " waited ", absl::FormatDuration(s.timeout),
                              " in Recv for a message from rank ", peer,
                              ", which never sent it (hung, or failed without reporting)");
      s.cv.notify_all();
      return absl::DeadlineExceededError(s.poison);
    }
  }
  if (s.poisoned) return PoisonedError(s.poison);
  std::vector<char> message = std::move(mailbox.front());
  mailbox.pop_front();
  if (message.size() != bytes) {
    // The ranks' plans disagree; the sender learns it at its next call.
    s.poisoned = true;
    const absl::Status mismatch = SizeMismatchError(peer, message.size(), rank_, bytes);
    s.poison = std::string(mismatch.message());
    s.cv.notify_all();
    return mismatch;
  }
  lock.unlock();
  if (bytes > 0) std::memcpy(data, message.data(), bytes);
  return absl::OkStatus();
}

void ThreadCommunicator::Abort(const absl::Status& cause) {
  ThreadGroupState& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.poisoned) return;  // the first cause is the one reported
  s.poisoned = true;
  s.poison = absl::StrCat("rank ", rank_, " failed: ", cause.message());
  s.cv.notify_all();
}

}  // namespace bloom
