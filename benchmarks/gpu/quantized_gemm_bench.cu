// Bandwidth of the quantized-weight kernels (kernels/cuda/quantized_gemm.cuh,
// dequantize.cuh) on BLOOM-7b1's and BLOOM-176B's linear shapes, against
// bf16 through cuBLASLt (LinearGemm) on the same shape. Prints JSON lines:
//
//   {"kind":"copy", ...}           device-to-device copy bandwidth, bytes
//                                  read plus written, through cudaMemcpyAsync
//                                  and through a 16-byte copy kernel; the
//                                  larger is the ceiling the fractions use
//   {"kind":"decode", ...}         one product at N rows: ms, the bytes it
//                                  must read (values, scales, zero points,
//                                  x: once, also when N > 16 reads W again),
//                                  GB/s and the fraction of the copy's
//   {"kind":"scratch", ...}        dequantize a chunk of rows + cuBLASLt on
//                                  it (quantized_scratch_gemm.cuh), for
//                                  chunk sizes from the whole weight down,
//                                  at N = 16 to 2048, against bf16
//                                  cuBLASLt on the whole weight
//
// Timing: CUDA events around a CUDA graph that runs the product over R
// copies of the weights, R chosen so that the copies exceed 2.5x the L2
// (so no copy is still cached when its turn comes again); the median of
// --reps replays, divided by R. Weights and x are random (never zeros).
//
//   quantized_gemm_bench [--reps=30] [--shapes=7b1,176b] [--only=N]
//
// --only=N times the quantized kernels alone at N rows (no baselines,
// sweeps or prefill): for a profiler run.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cuda/dequantize.cuh"
#include "kernels/cuda/gemm.cuh"
#include "kernels/cuda/quantized_gemm.cuh"
#include "kernels/cuda/quantized_scratch_gemm.cuh"
#include "benchmarks/gpu/bandwidth_bench.cuh"

namespace {

using bloom::DType;
namespace cuda = bloom::cuda;
namespace bench = bloom::bench;

// Random bytes (values), f16 scales in [1e-3, 1e-2], zero points in [-8, 7],
// 16-bit x in [-1, 1).
__global__ void FillBytes(uint32_t* out, int64_t words, uint32_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < words;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = bench::HashIndex(i, seed);
}
__global__ void FillScales(__half* out, int64_t count, uint32_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = __float2half(1e-3f + 9e-3f * (bench::HashIndex(i, seed) >> 8) * (1.0f / 16777216.0f));
}
__global__ void FillZeros(int8_t* out, int64_t count, uint32_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = static_cast<int8_t>(static_cast<int>(bench::HashIndex(i, seed) % 16) - 8);
}
struct Shape {
  const char* model;
  const char* name;
  int64_t m, k;
};

const Shape kShapes[] = {
    {"7b1", "qkv", 12288, 4096},      {"7b1", "dense", 4096, 4096},
    {"7b1", "h_to_4h", 16384, 4096},  {"7b1", "4h_to_h", 4096, 16384},
    {"176b", "qkv", 43008, 14336},    {"176b", "dense", 14336, 14336},
    {"176b", "h_to_4h", 57344, 14336}, {"176b", "4h_to_h", 14336, 57344},
};

// One arena of device memory, handed out in 256-byte aligned pieces.
struct Arena {
  uint8_t* base = nullptr;
  size_t size = 0, used = 0;
  explicit Arena(size_t bytes) : size(bytes) { BENCH_CHECK_CUDA(cudaMalloc(&base, bytes)); }
  ~Arena() { cudaFree(base); }
  void Reset() { used = 0; }
  void* Take(size_t bytes) {
    bytes = (bytes + 255) / 256 * 256;
    if (used + bytes > size) {
      std::fprintf(stderr, "arena of %zu bytes exhausted\n", size);
      std::exit(1);
    }
    void* p = base + used;
    used += bytes;
    return p;
  }
};

struct Format {
  const char* name;
  DType dtype;
  int64_t group;  // 0: one scale a row
};

const Format kFormats[] = {{"int8", DType::kI8, 0}, {"int4_g128", DType::kI4, 128}};

int64_t QuantizedBytes(const Format& f, int64_t m, int64_t k) {
  const int64_t groups = f.group > 0 ? k / f.group : 1;
  const int64_t values = f.dtype == DType::kI4 ? m * k / 2 : m * k;
  return values + m * groups * 2 + (f.dtype == DType::kI4 ? m * groups : 0);
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 30;
  std::string models = "7b1,176b";
  int64_t only_rows = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--reps=", 7) == 0) reps = std::atoi(argv[i] + 7);
    else if (std::strncmp(argv[i], "--shapes=", 9) == 0) models = argv[i] + 9;
    else if (std::strncmp(argv[i], "--only=", 7) == 0) only_rows = std::atoll(argv[i] + 7);
    else {
      std::fprintf(stderr, "usage: %s [--reps=30] [--shapes=7b1,176b] [--only=N]\n", argv[0]);
      return 2;
    }
  }
  cudaDeviceProp prop{};
  BENCH_CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("{\"kind\":\"device\",\"name\":\"%s\",\"sms\":%d,\"l2_bytes\":%d}\n", prop.name,
              prop.multiProcessorCount, prop.l2CacheSize);
  cudaStream_t stream;
  BENCH_CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));

  // The ceiling the fractions use (bandwidth_bench.cuh).
  const double copy_bytes_per_s = bench::MeasureCopyBandwidth(prop, stream);

  const int64_t max_m = 57344, max_k = 57344, max_n = 2048;
  Arena weights(size_t{3} << 30), dense(size_t{2} << 30), scratch_arena(size_t{2} << 30);
  __nv_bfloat16* x = nullptr;
  void* y = nullptr;
  BENCH_CHECK_CUDA(cudaMalloc(&x, max_n * max_k * 2));
  BENCH_CHECK_CUDA(cudaMalloc(&y, max_n * max_m * 4));
  bench::FillRandomBf16<<<bench::kFillBlocks, 256, 0, stream>>>(x, max_n * max_k, 7);
  const size_t workspace_bytes = cuda::QuantizedGemmWorkspaceBytes(max_m);
  void* workspace = nullptr;
  BENCH_CHECK_CUDA(cudaMalloc(&workspace, workspace_bytes));
  BENCH_CHECK_CUDA(cudaMemsetAsync(workspace, 0, workspace_bytes, stream));
  const size_t cublas_bytes = 64 << 20;
  void* cublas_workspace = nullptr;
  BENCH_CHECK_CUDA(cudaMalloc(&cublas_workspace, cublas_bytes));
  cuda::LinearGemm cublas, linear;  // cuBLASLt alone; as the executor runs it (GEMV at N <= 4)
  if (cublas.Init(cublas_workspace, cublas_bytes, {0, false}) != CUBLAS_STATUS_SUCCESS ||
      linear.Init(cublas_workspace, cublas_bytes) != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "cuBLASLt init failed\n");
    return 1;
  }
  const double cache_bytes = 2.5 * prop.l2CacheSize;
  std::vector<int64_t> decode_rows = {1, 2, 4, 8, 16, 32, 64, 128};
  if (only_rows > 0) decode_rows = {only_rows};
  // Rows the scratch path is timed at: where it may take over from the
  // fused product (16-128) and prefill (512, 2048).
  const std::vector<int64_t> scratch_rows = {16, 32, 64, 128, 512, 2048};

  for (const Shape& s : kShapes) {
    if (models.find(s.model) == std::string::npos) continue;
    // bf16 weights: the baseline, decode and prefill.
    dense.Reset();
    const int64_t dense_bytes = s.m * s.k * 2;
    const int dense_copies = static_cast<int>(std::max(1.0, std::ceil(cache_bytes / dense_bytes)));
    std::vector<void*> dense_w(dense_copies);
    for (void*& w : dense_w) {
      w = dense.Take(dense_bytes);
      bench::FillRandomBf16<<<bench::kFillBlocks, 256, 0, stream>>>(static_cast<__nv_bfloat16*>(w), s.m * s.k, 11);
    }
    std::vector<float> bf16_scratch_ms;
    for (const int64_t n : decode_rows) {
      if (only_rows > 0) break;
      const cuda::GemmProblem p{n, s.k, s.m, DType::kBF16, DType::kBF16, DType::kBF16, false, false};
      for (cuda::LinearGemm* gemm : {&cublas, &linear}) {
        if (gemm == &linear && !linear.UsesGemv(p, x, dense_w[0])) continue;  // same as cuBLASLt
        const float ms = bench::TimeGraphOverCopies(dense_copies, reps, stream, [&](int c) {
          if (gemm->Run(p, x, dense_w[c], nullptr, y, stream) != CUBLAS_STATUS_SUCCESS) std::exit(1);
        });
        const double bytes = dense_bytes + n * s.k * 2.0;
        std::printf("{\"kind\":\"decode\",\"model\":\"%s\",\"shape\":\"%s\",\"m\":%ld,\"k\":%ld,\"n\":%ld,"
                    "\"format\":\"%s\",\"ms\":%.5f,\"bytes\":%.0f,\"gb_per_s\":%.1f,\"fraction_of_copy\":%.3f,"
                    "\"copies\":%d}\n",
                    s.model, s.name, s.m, s.k, n, gemm == &cublas ? "bf16_cublaslt" : "bf16_gemv", ms, bytes,
                    bytes / (ms * 1e-3) / 1e9, bytes / (ms * 1e-3) / copy_bytes_per_s, dense_copies);
      }
    }
    for (const int64_t n : scratch_rows) {
      if (only_rows > 0) break;
      const cuda::GemmProblem p{n, s.k, s.m, DType::kBF16, DType::kBF16, DType::kBF16, false, false};
      bf16_scratch_ms.push_back(bench::TimeGraphOverCopies(dense_copies, std::min(reps, 10), stream, [&](int c) {
        if (cublas.Run(p, x, dense_w[c], nullptr, y, stream) != CUBLAS_STATUS_SUCCESS) std::exit(1);
      }));
    }

    for (const Format& f : kFormats) {
      weights.Reset();
      const int64_t bytes_per_copy = QuantizedBytes(f, s.m, s.k);
      const int copies = static_cast<int>(std::max(1.0, std::ceil(cache_bytes / bytes_per_copy)));
      const int64_t groups = f.group > 0 ? s.k / f.group : 1;
      // One row-major weight, repacked into `copies` tile buffers.
      const int64_t value_bytes = f.dtype == DType::kI4 ? s.m * s.k / 2 : s.m * s.k;
      void* values = weights.Take(value_bytes);
      void* scales = weights.Take(s.m * groups * 2);
      int8_t* zeros = f.dtype == DType::kI4 ? static_cast<int8_t*>(weights.Take(s.m * groups)) : nullptr;
      FillBytes<<<bench::kFillBlocks, 256, 0, stream>>>(static_cast<uint32_t*>(values), value_bytes / 4, 100);
      FillScales<<<bench::kFillBlocks, 256, 0, stream>>>(static_cast<__half*>(scales), s.m * groups, 200);
      if (zeros != nullptr) FillZeros<<<bench::kFillBlocks, 256, 0, stream>>>(zeros, s.m * groups, 300);
      const cuda::QuantizedWeight row_major{f.dtype, cuda::QuantizedLayout::kRowMajor, s.m, s.k, f.group,
                                            values, scales, zeros};
      std::vector<cuda::QuantizedWeight> w(copies);
      for (int c = 0; c < copies; ++c) {
        void* tiles = weights.Take(cuda::QuantizedTilesBytes(f.dtype, s.m, s.k, f.group));
        BENCH_CHECK_CUDA(cuda::LaunchRepackQuantizedTiles(row_major, tiles, stream));
        w[c] = cuda::TiledView(row_major, tiles);
      }
      BENCH_CHECK_CUDA(cudaStreamSynchronize(stream));
      for (const int64_t n : decode_rows) {
        const cuda::GemmProblem p{n, s.k, s.m, DType::kBF16, f.dtype, DType::kBF16, false, false};
        const bool tensor_cores = cuda::QuantizedGemmUsesTensorCores(p, w[0], x);
        const float ms = bench::TimeGraphOverCopies(copies, reps, stream, [&](int c) {
          BENCH_CHECK_CUDA(cuda::LaunchQuantizedGemm(p, w[c], x, nullptr, y, workspace, workspace_bytes, stream));
        });
        const double bytes = bytes_per_copy + n * s.k * 2.0;
        std::printf("{\"kind\":\"decode\",\"model\":\"%s\",\"shape\":\"%s\",\"m\":%ld,\"k\":%ld,\"n\":%ld,"
                    "\"format\":\"%s\",\"path\":\"%s\",\"ms\":%.5f,\"bytes\":%.0f,\"gb_per_s\":%.1f,"
                    "\"fraction_of_copy\":%.3f,\"copies\":%d}\n",
                    s.model, s.name, s.m, s.k, n, f.name, tensor_cores ? "tensor_cores" : "cuda_cores", ms,
                    bytes, bytes / (ms * 1e-3) / 1e9, bytes / (ms * 1e-3) / copy_bytes_per_s, copies);
      }
      if (only_rows > 0) continue;
      // The scratch path (quantized_scratch_gemm.cuh): dequantize a chunk
      // of rows into bf16, cuBLASLt on it, for each chunk size, against
      // bf16 cuBLASLt on the whole weight.
      if (only_rows > 0) continue;
      scratch_arena.Reset();
      void* scratch = scratch_arena.Take(s.m * s.k * 2);
      for (size_t i = 0; i < scratch_rows.size(); ++i) {
        const int64_t n = scratch_rows[i];
        const cuda::GemmProblem p{n, s.k, s.m, DType::kBF16, DType::kBF16, DType::kBF16, false, false};
        // 0: the whole weight at once; then chunks that split it, largest first.
        std::vector<int64_t> chunks = {0};
        for (const int64_t chunk : {int64_t{4096}, int64_t{2048}, int64_t{1024}, int64_t{512}, int64_t{256}}) {
          if (chunk < s.m) chunks.push_back(chunk);
        }
        for (const int64_t chunk : chunks) {
          const float ms = bench::TimeGraphOverCopies(copies, std::min(reps, 10), stream, [&](int c) {
            if (!cuda::RunQuantizedScratchGemm(cublas, p, w[c], x, nullptr, y, scratch, chunk, stream).ok()) {
              std::exit(1);
            }
          });
          std::printf("{\"kind\":\"scratch\",\"model\":\"%s\",\"shape\":\"%s\",\"m\":%ld,\"k\":%ld,"
                      "\"n\":%ld,\"format\":\"%s\",\"chunk_rows\":%ld,\"ms\":%.5f,"
                      "\"bf16_cublaslt_ms\":%.5f,\"ratio\":%.3f}\n",
                      s.model, s.name, s.m, s.k, n, f.name, chunk == 0 ? s.m : chunk, ms, bf16_scratch_ms[i], ms / bf16_scratch_ms[i]);
        }
      }
      std::fflush(stdout);
    }
  }
  BENCH_CHECK_CUDA(cudaDeviceSynchronize());
  return 0;
}
