// Shared pieces of the GPU op parity harness (in the spirit of llama.cpp's
// test-backend-ops): device buffers with canaries, storage-dtype round
// trips, fresh random inputs, and the normalised error that each op's
// threshold applies to.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/support/dtype.h"

namespace bloom::gpu_test {

// True when a CUDA device is usable. Tests call BLOOM_SKIP_WITHOUT_GPU()
// first, so a machine without one reports them SKIPPED, never passed.
bool HasGpu();
#define BLOOM_SKIP_WITHOUT_GPU()                                     \
  do {                                                               \
    if (!::bloom::gpu_test::HasGpu()) GTEST_SKIP() << "no CUDA GPU"; \
  } while (false)

#define BLOOM_CUDA_OK(expr) ASSERT_EQ((expr), cudaSuccess) << cudaGetErrorString(cudaGetLastError())

// Device memory with guard regions on both sides, filled with a canary
// pattern that a correct kernel never writes; the body starts poisoned
// (all-ones bytes: NaN in F32, F16 and BF16), so an element the kernel
// forgot to write fails the NaN check.
class GuardedBuffer {
 public:
  static constexpr size_t kGuardBytes = 512;
  explicit GuardedBuffer(size_t bytes);
  ~GuardedBuffer();
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;

  void* data() const { return base_ + kGuardBytes; }
  size_t size() const { return bytes_; }
  void Upload(const void* host, size_t bytes);
  std::vector<uint8_t> Download() const;
  // False if any guard byte changed (an out-of-bounds write).
  bool GuardsIntact() const;

 private:
  uint8_t* base_ = nullptr;
  size_t bytes_ = 0;
};

// `count` floats drawn uniformly from [lo, hi), never all zero.
std::vector<float> RandomFloats(size_t count, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f);

// Host float values → bytes of `dtype` (round to nearest even), and back.
std::vector<uint8_t> ToStorage(const std::vector<float>& values, DType dtype);
std::vector<float> FromStorage(const std::vector<uint8_t>& bytes, DType dtype, size_t count);
// The values `dtype` would hold (identity for F32).
std::vector<float> Rounded(std::vector<float> values, DType dtype);

// A float tensor on the device in a storage dtype, guarded.
struct DeviceTensorF {
  DType dtype;
  size_t count;
  GuardedBuffer buffer;
  DeviceTensorF(DType d, size_t n) : dtype(d), count(n), buffer(n * DTypeSize(d)) {}
  void Set(const std::vector<float>& values) {
    std::vector<uint8_t> bytes = ToStorage(values, dtype);
    buffer.Upload(bytes.data(), bytes.size());
  }
  std::vector<float> Get() const { return FromStorage(buffer.Download(), dtype, count); }
  void* data() const { return buffer.data(); }
};

// ||out - ref|| / ||ref|| (ref must not be all zero).
double NormalizedError(const std::vector<float>& out, const std::vector<float>& ref);
bool AllFinite(const std::vector<float>& values);

// Per-op thresholds on the normalised error. F32 arithmetic lands far
// below 1e-5; a 16-bit output is off by up to half an ulp of its format per
// element (2^-9 relative for BF16, 2^-12 for F16), which sums to a few 1e-3
// (BF16) or 1e-4 (F16) over a tensor.
double Tolerance(DType output, double f32 = 1e-5);

std::string DTypeLabel(DType dtype);

// The checks every op test makes on an output: the guards intact, every
// element finite, and the normalised error within `tolerance`.
void ExpectClose(const DeviceTensorF& out, const std::vector<float>& ref, double tolerance,
                 const std::string& what);

}  // namespace bloom::gpu_test
