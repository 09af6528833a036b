#include "runtime/cuda/device_probe.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "runtime/cuda/cuda_status.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/support/status_macros.h"

namespace bloom {

absl::StatusOr<DeviceLinks> ProbeDeviceLinks(size_t bytes) {
  BLOOM_CUDA_RETURN_IF_ERROR(cudaSetDevice(0), "--probe: cudaSetDevice");
  BLOOM_ASSIGN_OR_RETURN(DeviceBuffer a, DeviceBuffer::Allocate(bytes, "--probe"));
  BLOOM_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::Allocate(bytes, "--probe"));
  BLOOM_ASSIGN_OR_RETURN(PinnedBuffer host, PinnedBuffer::Allocate(bytes, "--probe"));
  std::memset(host.data(), 1, bytes);
  cudaEvent_t start = nullptr, end = nullptr;
  BLOOM_CUDA_RETURN_IF_ERROR(cudaEventCreate(&start), "--probe");
  BLOOM_CUDA_RETURN_IF_ERROR(cudaEventCreate(&end), "--probe");
  auto median_ms = [&](void* dst, const void* src, cudaMemcpyKind kind) -> absl::StatusOr<double> {
    std::vector<double> ms;
    for (int i = 0; i < 11; ++i) {
      BLOOM_CUDA_RETURN_IF_ERROR(cudaEventRecord(start), "--probe");
      BLOOM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, src, bytes, kind), "--probe: copy");
      BLOOM_CUDA_RETURN_IF_ERROR(cudaEventRecord(end), "--probe");
      BLOOM_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(end), "--probe");
      float elapsed = 0;
      BLOOM_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&elapsed, start, end), "--probe");
      if (i > 0) ms.push_back(elapsed);
    }
    std::sort(ms.begin(), ms.end());
    return 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
  };
  absl::StatusOr<double> d2d = median_ms(b.data(), a.data(), cudaMemcpyDeviceToDevice);
  absl::StatusOr<double> h2d = median_ms(a.data(), host.data(), cudaMemcpyHostToDevice);
  cudaEventDestroy(start);
  cudaEventDestroy(end);
  BLOOM_RETURN_IF_ERROR(d2d.status());
  BLOOM_RETURN_IF_ERROR(h2d.status());
  DeviceLinks links;
  links.device_copy_gb_per_s = 2.0 * bytes / (*d2d / 1e3) / 1e9;
  links.h2d_pinned_gb_per_s = bytes / (*h2d / 1e3) / 1e9;
  return links;
}

}  // namespace bloom
