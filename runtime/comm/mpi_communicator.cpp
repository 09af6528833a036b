#include "runtime/comm/mpi_communicator.h"

#include <algorithm>
#include <climits>
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

void MpiCommunicator::Abort(const absl::Status& cause) {
  std::fprintf(stderr, "bloom: %s (MPI rank %d of %d ends the job)\n", std::string(cause.message()).c_str(),
               rank_, size_);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

}  // namespace bloom
