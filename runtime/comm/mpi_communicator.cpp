#include "runtime/comm/mpi_communicator.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace bloom {
namespace {

absl::Status MpiError(const char* call, int code) {
  char text[MPI_MAX_ERROR_STRING] = {0};
  int length = 0;
  MPI_Error_string(code, text, &length);
  return absl::UnavailableError(absl::StrCat(call, " failed: ", std::string(text, length)));
}

#define BLOOM_MPI_CALL(call, ...)                                 \
  do {                                                            \
    const int _bloom_mpi_code = call(__VA_ARGS__);                \
    if (_bloom_mpi_code != MPI_SUCCESS) return MpiError(#call, _bloom_mpi_code); \
  } while (0)

// Point-to-point tags (mpi_communicator.h). Only Send/Recv use tags on the
// communicator's private duplicate.
constexpr int kWholeTag = 1;
constexpr int kLargeTag = 2;
constexpr int kPieceTag = 3;

// "Send to rank 1: MPI_Send failed: ..."
absl::Status PointToPointError(const char* what, const char* direction, int peer, const char* call,
                               int code) {
  const absl::Status error = MpiError(call, code);
  return absl::Status(error.code(), absl::StrCat(what, " ", direction, " rank ", peer, ": ", error.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<MpiCommunicator>> MpiCommunicator::Create() {
  std::unique_ptr<MpiCommunicator> comm(new MpiCommunicator());
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    // Collectives are called from one thread at a time (the rank's), but
    // not necessarily the thread that initialized MPI.
    int provided = 0;
    BLOOM_MPI_CALL(MPI_Init_thread, nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
    comm->finalize_ = true;
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  BLOOM_MPI_CALL(MPI_Comm_dup, MPI_COMM_WORLD, &comm->comm_);
  MPI_Comm_set_errhandler(comm->comm_, MPI_ERRORS_RETURN);
  BLOOM_MPI_CALL(MPI_Comm_rank, comm->comm_, &comm->rank_);
  BLOOM_MPI_CALL(MPI_Comm_size, comm->comm_, &comm->size_);
  return comm;
}

MpiCommunicator::~MpiCommunicator() {
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalize_ && !finalized) MPI_Finalize();
}

absl::Status MpiCommunicator::AllReduceSum(float* data, size_t count) {
  if (count > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat("AllReduceSum of ", count, " floats exceeds MPI's int count"));
  }
  gathered_.resize(count * size_);
  BLOOM_MPI_CALL(MPI_Allgather, data, static_cast<int>(count), MPI_FLOAT, gathered_.data(),
                 static_cast<int>(count), MPI_FLOAT, comm_);
  // The order of ThreadCommunicator: rank 0's value, plus rank 1's, ...
  for (size_t i = 0; i < count; ++i) {
    float sum = gathered_[i];
    for (int r = 1; r < size_; ++r) sum += gathered_[r * count + i];
    data[i] = sum;
  }
  return absl::OkStatus();
}

absl::Status MpiCommunicator::AllGather(const float* in, size_t count, float* out) {
  if (count > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat("AllGather of ", count, " floats exceeds MPI's int count"));
  }
  BLOOM_MPI_CALL(MPI_Allgather, in, static_cast<int>(count), MPI_FLOAT, out, static_cast<int>(count),
                 MPI_FLOAT, comm_);
  return absl::OkStatus();
}

absl::Status MpiCommunicator::Broadcast(void* data, size_t bytes, int root) {
  if (root < 0 || root >= size_) {
    return absl::InvalidArgumentError(absl::StrCat("Broadcast: root ", root, " is not a rank of ", size_));
  }
  // MPI counts are ints: send large buffers in pieces.
  char* bytes_ptr = static_cast<char*>(data);
  for (size_t done = 0; done < bytes;) {
    const int piece = static_cast<int>(std::min<size_t>(bytes - done, INT_MAX));
    BLOOM_MPI_CALL(MPI_Bcast, bytes_ptr + done, piece, MPI_BYTE, root, comm_);
    done += piece;
  }
  return absl::OkStatus();
}

absl::Status MpiCommunicator::Barrier() {
  BLOOM_MPI_CALL(MPI_Barrier, comm_);
  return absl::OkStatus();
}

absl::Status MpiCommunicator::Send(const void* data, size_t bytes, int peer) {
  if (auto status = CheckPeer("Send", peer); !status.ok()) return status;
  // MPI_Send takes a non-const buffer in old MPI headers.
  char* base = static_cast<char*>(const_cast<void*>(data));
  if (bytes <= static_cast<size_t>(INT_MAX)) {
    if (int code = MPI_Send(base, static_cast<int>(bytes), MPI_BYTE, peer, kWholeTag, comm_);
        code != MPI_SUCCESS) {
      return PointToPointError("Send", "to", peer, "MPI_Send", code);
    }
    return absl::OkStatus();
  }
  uint64_t total = bytes;
  if (int code = MPI_Send(&total, 1, MPI_UINT64_T, peer, kLargeTag, comm_); code != MPI_SUCCESS) {
    return PointToPointError("Send", "to", peer, "MPI_Send", code);
  }
  for (size_t done = 0; done < bytes;) {
    const int piece = static_cast<int>(std::min<size_t>(bytes - done, INT_MAX));
    if (int code = MPI_Send(base + done, piece, MPI_BYTE, peer, kPieceTag, comm_); code != MPI_SUCCESS) {
      return PointToPointError("Send", "to", peer, "MPI_Send", code);
    }
    done += piece;
  }
  return absl::OkStatus();
}

absl::Status MpiCommunicator::Recv(void* data, size_t bytes, int peer) {
  if (auto status = CheckPeer("Recv", peer); !status.ok()) return status;
  // The next message from `peer` is either whole or a large one's header;
  // its size is checked before anything is written to `data`.
  MPI_Status status;
  if (int code = MPI_Probe(peer, MPI_ANY_TAG, comm_, &status); code != MPI_SUCCESS) {
    return PointToPointError("Recv", "from", peer, "MPI_Probe", code);
  }
  char* base = static_cast<char*>(data);
  if (status.MPI_TAG == kWholeTag) {
    int sent = 0;
    MPI_Get_count(&status, MPI_BYTE, &sent);
    if (static_cast<size_t>(sent) != bytes) return SizeMismatchError(peer, sent, rank_, bytes);
    if (int code = MPI_Recv(base, sent, MPI_BYTE, peer, kWholeTag, comm_, MPI_STATUS_IGNORE);
        code != MPI_SUCCESS) {
      return PointToPointError("Recv", "from", peer, "MPI_Recv", code);
    }
    return absl::OkStatus();
  }
  if (status.MPI_TAG != kLargeTag) {
    return absl::InternalError(absl::StrCat("Recv from rank ", peer, ": unexpected MPI tag ", status.MPI_TAG,
                                            " (a piece without its header)"));
  }
  uint64_t total = 0;
  if (int code = MPI_Recv(&total, 1, MPI_UINT64_T, peer, kLargeTag, comm_, MPI_STATUS_IGNORE);
      code != MPI_SUCCESS) {
    return PointToPointError("Recv", "from", peer, "MPI_Recv", code);
  }
  if (total != bytes) return SizeMismatchError(peer, total, rank_, bytes);
  for (size_t done = 0; done < bytes;) {
    const int piece = static_cast<int>(std::min<size_t>(bytes - done, INT_MAX));
    if (int code = MPI_Recv(base + done, piece, MPI_BYTE, peer, kPieceTag, comm_, MPI_STATUS_IGNORE);
        code != MPI_SUCCESS) {
      return PointToPointError("Recv", "from", peer, "MPI_Recv", code);
    }
    done += piece;
  }
  return absl::OkStatus();
}

absl::Status MpiCommunicator::SendWithoutWaiting(const void* data, size_t bytes, int peer) {
  if (bytes > static_cast<size_t>(INT_MAX)) return Send(data, bytes, peer);
  if (auto status = CheckPeer("Send", peer); !status.ok()) return status;
  MPI_Request request = MPI_REQUEST_NULL;
  void* base = const_cast<void*>(data);  // MPI_Isend takes a non-const buffer in old MPI headers
  if (int code = MPI_Isend(base, static_cast<int>(bytes), MPI_BYTE, peer, kWholeTag, comm_, &request);
      code != MPI_SUCCESS) {
    return PointToPointError("Send", "to", peer, "MPI_Isend", code);
  }
  pending_.push_back(request);
  return absl::OkStatus();
}

absl::Status MpiCommunicator::WaitOldestSend() {
  if (pending_.empty()) return absl::OkStatus();
  MPI_Request request = pending_.front();
  pending_.pop_front();
  BLOOM_MPI_CALL(MPI_Wait, &request, MPI_STATUS_IGNORE);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Communicator>> MpiCommunicator::Split(int color, int key) {
  std::unique_ptr<MpiCommunicator> sub(new MpiCommunicator());
  BLOOM_MPI_CALL(MPI_Comm_split, comm_, color, key, &sub->comm_);
  MPI_Comm_set_errhandler(sub->comm_, MPI_ERRORS_RETURN);
  BLOOM_MPI_CALL(MPI_Comm_rank, sub->comm_, &sub->rank_);
  BLOOM_MPI_CALL(MPI_Comm_size, sub->comm_, &sub->size_);
  return std::unique_ptr<Communicator>(std::move(sub));
}

void MpiCommunicator::Abort(const absl::Status& cause) {
  std::fprintf(stderr, "bloom: %s (MPI rank %d of %d ends the job)\n", std::string(cause.message()).c_str(),
               rank_, size_);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

}  // namespace bloom
