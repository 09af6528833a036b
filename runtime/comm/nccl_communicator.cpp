#include "runtime/comm/nccl_communicator.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "runtime/support/status_macros.h"

namespace bloom {
namespace {

absl::Status CudaError(const char* what, cudaError_t error) {
  return absl::InternalError(absl::StrCat(what, ": ", cudaGetErrorString(error)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(
    Communicator& bootstrap, int device, cudaStream_t stream, absl::Duration timeout) {
  if (bootstrap.memory_space() != MemorySpace::kHost) {
    return absl::InvalidArgumentError("the NCCL bootstrap must be a host-memory communicator");
  }
  // Before NCCL reads its environment (at its first initialization).
  setenv("NCCL_NVLS_ENABLE", "0", /*overwrite=*/1);

  std::unique_ptr<NcclCommunicator> comm(new NcclCommunicator());
  comm->rank_ = bootstrap.rank();
  comm->size_ = bootstrap.size();
  comm->device_ = device;
  comm->stream_ = stream;
  comm->timeout_ = timeout;

  ncclUniqueId id;
  std::memset(&id, 0, sizeof(id));
  absl::Status made = absl::OkStatus();
  if (comm->rank_ == 0) {
    if (ncclResult_t r = ncclGetUniqueId(&id); r != ncclSuccess) {
      made = absl::InternalError(absl::StrCat("ncclGetUniqueId: ", ncclGetErrorString(r)));
    }
  }
  BLOOM_RETURN_IF_ERROR(bootstrap.Broadcast(&id, sizeof(id), 0));
  BLOOM_RETURN_IF_ERROR(made);

  if (cudaError_t e = cudaSetDevice(device); e != cudaSuccess) return CudaError("cudaSetDevice", e);
  if (cudaError_t e = cudaMalloc(&comm->barrier_scratch_, sizeof(float)); e != cudaSuccess) {
    return CudaError("cudaMalloc", e);
  }
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  BLOOM_RETURN_IF_ERROR(comm->Check(
      "ncclCommInitRankConfig",
      ncclCommInitRankConfig(&comm->comm_, comm->size_, id, comm->rank_, &config)));
  return comm;
}

NcclCommunicator::~NcclCommunicator() {
  // After Abort() comm_ is null: ncclCommAbort has released it.
  if (comm_ != nullptr) ncclCommDestroy(comm_);
  if (barrier_scratch_ != nullptr) cudaFree(barrier_scratch_);
}

absl::Status NcclCommunicator::Usable(const char* what) const {
  if (!abort_cause_.empty()) {
    return absl::AbortedError(absl::StrCat(what, ": NCCL communicator aborted: ", abort_cause_));
  }
  return absl::OkStatus();
}

absl::Status NcclCommunicator::WaitReady(const char* what) {
  const absl::Time deadline = absl::Now() + timeout_;
  while (true) {
    ncclResult_t state = ncclSuccess;
    if (ncclResult_t r = ncclCommGetAsyncError(comm_, &state); r != ncclSuccess) state = r;
    if (state == ncclSuccess) return absl::OkStatus();
    if (state != ncclInProgress) {
      const std::string cause = absl::StrCat(what, ": ", ncclGetErrorString(state), " (rank ", rank_, ")");
      Abort(absl::InternalError(cause));
      return absl::InternalError(cause);
    }
    if (absl::Now() > deadline) {
      const std::string cause = absl::StrCat("rank ", rank_, ": ", what, " did not finish within ",
                                             absl::FormatDuration(timeout_));
      Abort(absl::DeadlineExceededError(cause));
      return absl::DeadlineExceededError(cause);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

absl::Status NcclCommunicator::Check(const char* what, ncclResult_t result) {
  if (result == ncclSuccess) return absl::OkStatus();
  if (result == ncclInProgress) return WaitReady(what);
  const std::string cause = absl::StrCat(what, ": ", ncclGetErrorString(result), " (rank ", rank_, ")");
  if (comm_ != nullptr) Abort(absl::InternalError(cause));
  return absl::InternalError(cause);
}

absl::Status NcclCommunicator::AllReduceSum(float* data, size_t count) {
  BLOOM_RETURN_IF_ERROR(Usable("AllReduceSum"));
  return Check("ncclAllReduce",
               ncclAllReduce(data, data, count, ncclFloat, ncclSum, comm_, stream_));
}

absl::Status NcclCommunicator::AllGather(const float* in, size_t count, float* out) {
  BLOOM_RETURN_IF_ERROR(Usable("AllGather"));
  return Check("ncclAllGather", ncclAllGather(in, out, count, ncclFloat, comm_, stream_));
}

absl::Status NcclCommunicator::Broadcast(void* data, size_t bytes, int root) {
  BLOOM_RETURN_IF_ERROR(Usable("Broadcast"));
  if (root < 0 || root >= size_) {
    return absl::InvalidArgumentError(absl::StrCat("Broadcast: root ", root, " is not a rank of ", size_));
  }
  return Check("ncclBroadcast", ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream_));
}

absl::Status NcclCommunicator::Barrier() {
  BLOOM_RETURN_IF_ERROR(Usable("Barrier"));
  BLOOM_RETURN_IF_ERROR(Check("ncclAllReduce (barrier)",
                              ncclAllReduce(barrier_scratch_, barrier_scratch_, 1, ncclFloat,
                                            ncclSum, comm_, stream_)));
  // Poll rather than cudaStreamSynchronize, so that a peer that never joins
  // ends in a timeout instead of a hang.
  const absl::Time deadline = absl::Now() + timeout_;
  while (true) {
    const cudaError_t e = cudaStreamQuery(stream_);
    if (e == cudaSuccess) return absl::OkStatus();
    if (e != cudaErrorNotReady) return CudaError("Barrier: cudaStreamQuery", e);
    BLOOM_RETURN_IF_ERROR(WaitReady("Barrier"));
    if (absl::Now() > deadline) {
      const std::string cause = absl::StrCat("rank ", rank_, ": Barrier did not finish within ",
                                             absl::FormatDuration(timeout_));
      Abort(absl::DeadlineExceededError(cause));
      return absl::DeadlineExceededError(cause);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

void NcclCommunicator::Abort(const absl::Status& cause) {
  if (!abort_cause_.empty()) return;
  abort_cause_ = std::string(cause.message());
  if (abort_cause_.empty()) abort_cause_ = "aborted";
  // ncclCommAbort stops this rank's pending operations and frees the
  // communicator.
  if (comm_ != nullptr) ncclCommAbort(comm_);
  comm_ = nullptr;
}

}  // namespace bloom
