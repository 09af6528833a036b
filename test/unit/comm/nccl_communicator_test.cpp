// Tests the NCCL communicator with one rank per visible GPU, the ranks as
// threads of this process bootstrapped by a ThreadCommunicator: the
// all-reduce sum, all-gather and broadcast of values the test computes
// itself. Exits 77 (CTest's skip code) where no GPU is visible, as on the CPU
// build machines; the GPU machine runs it with one GPU (one rank).
#include <cuda_runtime_api.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "runtime/comm/nccl_communicator.h"
#include "runtime/comm/thread_communicator.h"

namespace {

std::string RankCheck(int rank, int size, bloom::Communicator& bootstrap) {
  cudaStream_t stream = nullptr;
  if (cudaSetDevice(rank) != cudaSuccess || cudaStreamCreate(&stream) != cudaSuccess) {
    return "cannot set up the device";
  }
  auto nccl = bloom::NcclCommunicator::Create(bootstrap, rank, stream, absl::Seconds(60));
  if (!nccl.ok()) return std::string(nccl.status().message());
  const size_t count = 1000;
  std::vector<float> host(count);
  for (size_t i = 0; i < count; ++i) host[i] = static_cast<float>(rank + 1) * 0.5f + static_cast<float>(i);
  float *data = nullptr, *gathered = nullptr;
  cudaMalloc(&data, count * sizeof(float));
  cudaMalloc(&gathered, size * count * sizeof(float));
  cudaMemcpy(data, host.data(), count * sizeof(float), cudaMemcpyHostToDevice);
  // Gather first (of the original values), then reduce in place.
  if (auto s = (*nccl)->AllGather(data, count, gathered); !s.ok()) return std::string(s.message());
  if (auto s = (*nccl)->AllReduceSum(data, count); !s.ok()) return std::string(s.message());
  int value = rank == 0 ? 1234 : -1;
  int* device_value = nullptr;
  cudaMalloc(&device_value, sizeof(int));
  cudaMemcpy(device_value, &value, sizeof(int), cudaMemcpyHostToDevice);
  if (auto s = (*nccl)->Broadcast(device_value, sizeof(int), 0); !s.ok()) return std::string(s.message());
  if (auto s = (*nccl)->Barrier(); !s.ok()) return std::string(s.message());
  std::vector<float> sum(count), all(size * count);
  cudaMemcpy(sum.data(), data, count * sizeof(float), cudaMemcpyDeviceToHost);
  cudaMemcpy(all.data(), gathered, all.size() * sizeof(float), cudaMemcpyDeviceToHost);
  cudaMemcpy(&value, device_value, sizeof(int), cudaMemcpyDeviceToHost);
  // Expected, by hand: sum over r of (r + 1) / 2 + i = size (size + 1) / 4 + size * i
  // (exact in float for these small values).
  for (size_t i = 0; i < count; ++i) {
    const float expected = static_cast<float>(size * (size + 1)) / 4.f + static_cast<float>(size * i);
    if (sum[i] != expected) return "all-reduce sum " + std::to_string(sum[i]) + " != " + std::to_string(expected);
    for (int r = 0; r < size; ++r) {
      if (all[r * count + i] != static_cast<float>(r + 1) * 0.5f + static_cast<float>(i)) return "all-gather order";
    }
  }
  if (value != 1234) return "broadcast";
  cudaFree(data);
  cudaFree(gathered);
  cudaFree(device_value);
  return "";
}

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("SKIPPED: no CUDA device visible\n");
    return 77;
  }
  auto bootstrap = bloom::ThreadCommunicator::CreateGroup(devices, absl::Seconds(60));
  std::vector<std::string> errors(devices);
  std::vector<std::thread> threads;
  for (int r = 0; r < devices; ++r) {
    threads.emplace_back([&, r] { errors[r] = RankCheck(r, devices, *bootstrap[r]); });
  }
  for (auto& t : threads) t.join();
  int failed = 0;
  for (int r = 0; r < devices; ++r) {
    if (!errors[r].empty()) {
      std::printf("FAIL: rank %d: %s\n", r, errors[r].c_str());
      ++failed;
    }
  }
  if (failed == 0) std::printf("PASS: NCCL all-reduce, all-gather, broadcast on %d rank(s)\n", devices);
  return failed == 0 ? 0 : 1;
}
