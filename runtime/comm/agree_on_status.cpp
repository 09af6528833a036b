#include "runtime/comm/agree_on_status.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"

namespace bloom {

absl::Status AgreeOnStatus(Communicator& comm, const absl::Status& local) {
  if (comm.memory_space() != MemorySpace::kHost) {
    return absl::UnimplementedError(
        absl::StrCat("AgreeOnStatus needs a host-memory communicator, not ", comm.transport()));
  }
  // Each rank contributes its status code at its own index; the sum is the
  // table of codes (codes are small integers, exact in float).
  std::vector<float> codes(comm.size(), 0.f);
  codes[comm.rank()] = static_cast<float>(static_cast<int>(local.code()));
  if (auto status = comm.AllReduceSum(codes.data(), codes.size()); !status.ok()) return status;
  const auto first_failed = std::find_if(codes.begin(), codes.end(), [](float c) { return c != 0.f; });
  if (first_failed == codes.end()) return absl::OkStatus();
  const int root = static_cast<int>(first_failed - codes.begin());

  constexpr size_t kMessageBytes = 1024;
  std::vector<char> message(kMessageBytes, '\0');
  if (comm.rank() == root) {
    const size_t n = std::min(local.message().size(), kMessageBytes - 1);
    std::copy(local.message().data(), local.message().data() + n, message.begin());
  }
  if (auto status = comm.Broadcast(message.data(), message.size(), root); !status.ok()) return status;
  message.back() = '\0';
  return absl::Status(static_cast<absl::StatusCode>(static_cast<int>(*first_failed)),
                      absl::StrCat("rank ", root, ": ", message.data()));
}

}  // namespace bloom
