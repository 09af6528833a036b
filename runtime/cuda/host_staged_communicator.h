// Device-memory collectives carried out by a host-memory communicator: each
// call waits for the stream, copies the device data into pinned host memory,
// runs the host collective (ThreadCommunicator or MpiCommunicator), and
// copies the result back on the stream.
//
// Why it exists: NCCL refuses two ranks on one GPU, so a tensor-parallel
// plan whose ranks share a device (tp=2 on the one-GPU machine, the CUDA
// TP parity tests) runs its collectives through this instead. It is
// correct, not fast: every collective is a host round trip, and a step that
// contains one cannot be captured into a CUDA graph (capturable() is
// false), so the executor runs such plans eagerly. The sums are the host
// transport's (rank order, float32), so a shared-GPU tp=N run gives the
// same bits as the CPU backend's collectives would on the same inputs.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "runtime/comm/communicator.h"
#include "runtime/cuda/device_buffer.h"

namespace bloom {

class HostStagedCommunicator : public Communicator {
 public:
  // `host` (not owned) must be a host-memory communicator over the same
  // ranks; `stream` (not owned) is the executor's stream.
  HostStagedCommunicator(Communicator &host, cudaStream_t stream) : host_(host), stream_(stream) {}

  int rank() const override { return host_.rank(); }
  int size() const override { return host_.size(); }
  MemorySpace memory_space() const override { return MemorySpace::kDevice; }
  const char *transport() const override { return "host-staged"; }

  absl::Status AllReduceSum(float *data, size_t count) override;
  absl::Status AllGather(const float *in, size_t count, float *out) override;
  absl::Status Broadcast(void *data, size_t bytes, int root) override;
  absl::Status Barrier() override { return host_.Barrier(); }
  void Abort(const absl::Status &cause) override { host_.Abort(cause); }

 private:
  // Grows the pinned staging buffer to at least `bytes`.
  absl::Status Reserve(size_t bytes);

  Communicator &host_;
  cudaStream_t stream_;
  PinnedBuffer staging_;
};

}  // namespace bloom
