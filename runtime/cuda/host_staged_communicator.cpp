#include "runtime/cuda/host_staged_communicator.h"

#include "runtime/cuda/cuda_status.h"
#include "runtime/support/status_macros.h"

namespace bloom {

absl::Status HostStagedCommunicator::Reserve(size_t bytes) {
  if (staging_.size() >= bytes) return absl::OkStatus();
  BLOOM_ASSIGN_OR_RETURN(staging_, PinnedBuffer::Allocate(bytes, "host-staged collective buffer"));
  return absl::OkStatus();
}

// Each call first synchronises the stream, which also guarantees that the
// previous call's host-to-device copy out of staging_ has finished before
// staging_ is written again.
absl::Status HostStagedCommunicator::AllReduceSum(float *data, size_t count) {
  const size_t bytes = count * sizeof(float);
  BLOOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), "host-staged all-reduce");
  BLOOM_RETURN_IF_ERROR(Reserve(bytes));
  float *host = reinterpret_cast<float *>(staging_.data());
  BLOOM_CUDA_RETURN_IF_ERROR(cudaMemcpy(host, data, bytes, cudaMemcpyDeviceToHost),
                             "host-staged all-reduce: device to host");
  BLOOM_RETURN_IF_ERROR(host_.AllReduceSum(host, count));
  BLOOM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(data, host, bytes, cudaMemcpyHostToDevice, stream_),
                             "host-staged all-reduce: host to device");
  return absl::OkStatus();
}

absl::Status HostStagedCommunicator::AllGather(const float *in, size_t count, float *out) {
  const size_t bytes = count * sizeof(float);
  const size_t ranks = static_cast<size_t>(size());
  BLOOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), "host-staged all-gather");
  BLOOM_RETURN_IF_ERROR(Reserve(bytes * (ranks + 1)));
  float *mine = reinterpret_cast<float *>(staging_.data());
  float *all = mine + count;
  BLOOM_CUDA_RETURN_IF_ERROR(cudaMemcpy(mine, in, bytes, cudaMemcpyDeviceToHost),
                             "host-staged all-gather: device to host");
  BLOOM_RETURN_IF_ERROR(host_.AllGather(mine, count, all));
  BLOOM_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(out, all, bytes * ranks, cudaMemcpyHostToDevice, stream_),
      "host-staged all-gather: host to device");
  return absl::OkStatus();
}

absl::Status HostStagedCommunicator::Broadcast(void *data, size_t bytes, int root) {
  BLOOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), "host-staged broadcast");
  BLOOM_RETURN_IF_ERROR(Reserve(bytes));
  BLOOM_CUDA_RETURN_IF_ERROR(cudaMemcpy(staging_.data(), data, bytes, cudaMemcpyDeviceToHost),
                             "host-staged broadcast: device to host");
  BLOOM_RETURN_IF_ERROR(host_.Broadcast(staging_.data(), bytes, root));
  BLOOM_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(data, staging_.data(), bytes, cudaMemcpyHostToDevice, stream_),
      "host-staged broadcast: host to device");
  return absl::OkStatus();
}

}  // namespace bloom
