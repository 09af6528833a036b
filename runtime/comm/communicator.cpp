#include "runtime/comm/communicator.h"

#include "absl/strings/str_cat.h"

namespace bloom {

absl::Status Communicator::Send(const void*, size_t, int peer) {
  return absl::UnimplementedError(absl::StrCat(transport(), " communicator (rank ", rank(),
                                               "): no point-to-point send (to rank ", peer, ")"));
}

absl::Status Communicator::Recv(void*, size_t, int peer) {
  return absl::UnimplementedError(absl::StrCat(transport(), " communicator (rank ", rank(),
                                               "): no point-to-point receive (from rank ", peer,
                                               ")"));
}

}  // namespace bloom
