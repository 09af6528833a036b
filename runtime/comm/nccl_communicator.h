// GPU collectives through NCCL (DESIGN.md, decision 6): one rank per GPU,
// whether the ranks are threads of one process or processes under mpirun.
// Built only where the CUDA toolkit and NCCL are found (BLOOM_CUDA_FOUND).
//
// Bootstrap: NCCL ranks must share a unique id that one rank creates. Create()
// takes any host-memory communicator over the same ranks (MpiCommunicator
// across processes, ThreadCommunicator within one) and broadcasts rank 0's
// id through it.
//
// Semantics against communicator.h: pointers are device pointers; each
// collective is enqueued on the communicator's stream and returns once
// enqueued (the stream orders it before later kernels), except Barrier, which
// waits for the stream. NCCL's reductions hand every rank the same bits (the
// reduced chunks are broadcast), but not the CPU transports' bits.
//
// Failure: the communicator is non-blocking (ncclConfig_t.blocking = 0), so
// every wait is a poll that checks ncclCommGetAsyncError and gives up after
// the timeout with ncclCommAbort; Abort() aborts the NCCL communicator, and
// every later call returns an error. A peer in another process learns of a
// failure through its own timeout, or through MPI_Abort of the bootstrap.
//
// NVLink multicast (NVLS) is turned off (NCCL_NVLS_ENABLE=0) before NCCL
// starts: on the shared multi-GPU machines it can put the host's GPUs out of
// service (device README, KINDS.md).
#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/comm/communicator.h"

namespace bloom {

class NcclCommunicator : public Communicator {
 public:
  // Collective over `bootstrap`: joins an NCCL communicator of
  // bootstrap.size() ranks, this one bootstrap.rank(), on CUDA device
  // `device`, enqueueing on `stream` (not owned). `timeout` bounds every wait.
  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> Create(Communicator& bootstrap,
                                                                  int device, cudaStream_t stream,
                                                                  absl::Duration timeout);
  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  MemorySpace memory_space() const override { return MemorySpace::kDevice; }
  const char* transport() const override { return "nccl"; }

  absl::Status AllReduceSum(float* data, size_t count) override;
  absl::Status AllGather(const float* in, size_t count, float* out) override;
  absl::Status Broadcast(void* data, size_t bytes, int root) override;
  absl::Status Barrier() override;
  void Abort(const absl::Status& cause) override;

 private:
  NcclCommunicator() = default;
  // Waits until the communicator has no operation in progress (non-blocking
  // mode), failing on an asynchronous error or after the timeout.
  absl::Status WaitReady(const char* what);
  // Checks a call's result; ncclInProgress means "poll until ready".
  absl::Status Check(const char* what, ncclResult_t result);
  absl::Status Usable(const char* what) const;

  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  int device_ = 0;
  int rank_ = 0;
  int size_ = 1;
  absl::Duration timeout_;
  float* barrier_scratch_ = nullptr;  // one device float for Barrier's all-reduce
  std::string abort_cause_;           // non-empty once aborted
};

}  // namespace bloom
