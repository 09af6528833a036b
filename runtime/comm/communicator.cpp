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

absl::StatusOr<std::unique_ptr<Communicator>> Communicator::Split(int, int) {
  return absl::UnimplementedError(absl::StrCat(transport(), " communicators do not split"));
}

absl::Status Communicator::CheckPeer(const char* what, int peer) const {
  if (peer < 0 || peer >= size() || peer == rank()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": rank ", rank(), " named peer ", peer,
                                                   ", which is not another rank of ", size()));
  }
  return absl::OkStatus();
}

absl::Status Communicator::SizeMismatchError(int from, size_t sent, int to, size_t expected) {
  return absl::InternalError(absl::StrCat("Recv: rank ", from, " sent ", sent, " bytes but rank ",
                                          to, " expected ", expected,
                                          " (the ranks' plans disagree)"));
}

}  // namespace bloom
