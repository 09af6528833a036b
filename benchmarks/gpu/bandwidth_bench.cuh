// What the GPU bandwidth microbenchmarks share: the error check, random
// bf16 fills, the device-to-device copy ceiling and the timing of a CUDA
// graph that replays a launch over copies of its inputs. Included by one
// translation unit per benchmark binary (the kernels are defined here).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define BENCH_CHECK_CUDA(expr)                                                                  \
  do {                                                                                          \
    const cudaError_t status_ = (expr);                                                         \
    if (status_ != cudaSuccess) {                                                               \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr,                        \
                   cudaGetErrorString(status_));                                                \
      std::exit(1);                                                                             \
    }                                                                                           \
  } while (false)

namespace bloom::bench {

constexpr unsigned kFillBlocks = 4096;

__device__ inline uint32_t HashIndex(uint64_t i, uint32_t seed) {
  uint64_t z = i * 0x9E3779B97F4A7C15ull + seed;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return static_cast<uint32_t>(z ^ (z >> 31));
}

// bf16 values in [-1, 1), never all zeros, a function of (i, seed).
__global__ void FillRandomBf16(__nv_bfloat16* out, int64_t count, uint32_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = __float2bfloat16(2.0f * (HashIndex(i, seed) >> 8) * (1.0f / 16777216.0f) - 1.0f);
}

__global__ void CopyWords(const uint4* in, uint4* out, int64_t count) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = in[i];
}

inline float MedianOf(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The ceiling the fractions use: a 2 GiB device-to-device copy, bytes read
// plus written, through cudaMemcpyAsync and through a 16-byte copy kernel,
// each timed with events around the copy (a memcpy node of a graph runs
// slower than either); the faster of the two. Prints the {"kind":"copy"}
// line and returns bytes per second.
inline double MeasureCopyBandwidth(const cudaDeviceProp& prop, cudaStream_t stream) {
  const size_t bytes = size_t{2} << 30;
  void *a = nullptr, *b = nullptr;
  BENCH_CHECK_CUDA(cudaMalloc(&a, bytes));
  BENCH_CHECK_CUDA(cudaMalloc(&b, bytes));
  FillRandomBf16<<<kFillBlocks, 256, 0, stream>>>(static_cast<__nv_bfloat16*>(a), bytes / 2, 1);
  cudaEvent_t start, stop;
  BENCH_CHECK_CUDA(cudaEventCreate(&start));
  BENCH_CHECK_CUDA(cudaEventCreate(&stop));
  float best[2] = {0, 0};
  for (int how = 0; how < 2; ++how) {
    std::vector<float> ms;
    for (int r = 0; r < 23; ++r) {
      BENCH_CHECK_CUDA(cudaEventRecord(start, stream));
      if (how == 0) {
        BENCH_CHECK_CUDA(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, stream));
      } else {
        CopyWords<<<prop.multiProcessorCount * 8, 512, 0, stream>>>(static_cast<const uint4*>(a),
                                                                   static_cast<uint4*>(b), bytes / 16);
      }
      BENCH_CHECK_CUDA(cudaEventRecord(stop, stream));
      BENCH_CHECK_CUDA(cudaEventSynchronize(stop));
      float t = 0;
      BENCH_CHECK_CUDA(cudaEventElapsedTime(&t, start, stop));
      if (r >= 3) ms.push_back(t);  // the first few warm the clocks
    }
    best[how] = MedianOf(ms);
  }
  const double memcpy_rate = 2.0 * bytes / (best[0] * 1e-3);
  const double kernel_rate = 2.0 * bytes / (best[1] * 1e-3);
  const double rate = std::max(memcpy_rate, kernel_rate);
  std::printf("{\"kind\":\"copy\",\"device\":\"%s\",\"l2_bytes\":%d,\"bytes\":%zu,\"memcpy_ms\":%.5f,"
              "\"memcpy_bytes_per_s\":%.4e,\"kernel_ms\":%.5f,\"kernel_bytes_per_s\":%.4e,"
              "\"bytes_per_s\":%.4e}\n",
              prop.name, prop.l2CacheSize, bytes, best[0], memcpy_rate, best[1], kernel_rate, rate);
  std::fflush(stdout);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(a);
  cudaFree(b);
  return rate;
}

// Median ms of one call of `body(copy)` (copy in [0, copies)): a CUDA graph
// runs every copy in turn, `reps` replays are timed with events and each
// divided by `copies`. With copies whose inputs together exceed the L2 no
// copy is still cached when its turn comes again.
template <typename Body>
float TimeGraphOverCopies(int copies, int reps, cudaStream_t stream, const Body& body) {
  for (int c = 0; c < copies; ++c) body(c);  // warm: lazy module loading, first-touch
  BENCH_CHECK_CUDA(cudaStreamSynchronize(stream));
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  BENCH_CHECK_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  for (int c = 0; c < copies; ++c) body(c);
  BENCH_CHECK_CUDA(cudaStreamEndCapture(stream, &graph));
  BENCH_CHECK_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  cudaEvent_t start, stop;
  BENCH_CHECK_CUDA(cudaEventCreate(&start));
  BENCH_CHECK_CUDA(cudaEventCreate(&stop));
  for (int i = 0; i < 2; ++i) BENCH_CHECK_CUDA(cudaGraphLaunch(exec, stream));
  std::vector<float> ms;
  for (int r = 0; r < reps; ++r) {
    BENCH_CHECK_CUDA(cudaEventRecord(start, stream));
    BENCH_CHECK_CUDA(cudaGraphLaunch(exec, stream));
    BENCH_CHECK_CUDA(cudaEventRecord(stop, stream));
    BENCH_CHECK_CUDA(cudaEventSynchronize(stop));
    float t = 0.0f;
    BENCH_CHECK_CUDA(cudaEventElapsedTime(&t, start, stop));
    ms.push_back(t / copies);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  return MedianOf(ms);
}

}  // namespace bloom::bench
