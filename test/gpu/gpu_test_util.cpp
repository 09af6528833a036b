#include "test/gpu/gpu_test_util.h"

#include <cmath>
#include <cstring>

namespace bloom::gpu_test {
namespace {
constexpr uint8_t kCanary = 0xA5;
}  // namespace

bool HasGpu() {
  static const bool has_gpu = [] {
    int count = 0;
    const bool ok = cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
    cudaGetLastError();
    return ok;
  }();
  return has_gpu;
}

GuardedBuffer::GuardedBuffer(size_t bytes) : bytes_(bytes) {
  const size_t total = bytes + 2 * kGuardBytes;
  if (cudaMalloc(&base_, total) != cudaSuccess) {
    ADD_FAILURE() << "cudaMalloc of " << total << " bytes failed";
    base_ = nullptr;
    return;
  }
  cudaMemset(base_, kCanary, total);
  cudaMemset(base_ + kGuardBytes, 0xFF, bytes);
}

GuardedBuffer::~GuardedBuffer() {
  if (base_ != nullptr) cudaFree(base_);
}

void GuardedBuffer::Upload(const void* host, size_t bytes) {
  ASSERT_LE(bytes, bytes_);
  ASSERT_EQ(cudaMemcpy(data(), host, bytes, cudaMemcpyHostToDevice), cudaSuccess);
}

std::vector<uint8_t> GuardedBuffer::Download() const {
  std::vector<uint8_t> bytes(bytes_);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(bytes.data(), data(), bytes_, cudaMemcpyDeviceToHost), cudaSuccess);
  return bytes;
}

bool GuardedBuffer::GuardsIntact() const {
  std::vector<uint8_t> all(bytes_ + 2 * kGuardBytes);
  if (cudaDeviceSynchronize() != cudaSuccess ||
      cudaMemcpy(all.data(), base_, all.size(), cudaMemcpyDeviceToHost) != cudaSuccess) {
    return false;
  }
  for (size_t i = 0; i < kGuardBytes; ++i) {
    if (all[i] != kCanary || all[kGuardBytes + bytes_ + i] != kCanary) return false;
  }
  return true;
}

std::vector<float> RandomFloats(size_t count, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(count);
  for (float& v : values) v = dist(rng);
  return values;
}

std::vector<uint8_t> ToStorage(const std::vector<float>& values, DType dtype) {
  std::vector<uint8_t> bytes(values.size() * DTypeSize(dtype));
  ConvertFromFloat32(dtype, values.data(), bytes.data(), values.size());
  return bytes;
}

std::vector<float> FromStorage(const std::vector<uint8_t>& bytes, DType dtype, size_t count) {
  std::vector<float> values(count);
  ConvertToFloat32(dtype, bytes.data(), values.data(), count);
  return values;
}

std::vector<float> Rounded(std::vector<float> values, DType dtype) {
  RoundThroughDType(dtype, values.data(), values.size());
  return values;
}

double NormalizedError(const std::vector<float>& out, const std::vector<float>& ref) {
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = static_cast<double>(out[i]) - ref[i];
    diff += d * d;
    norm += static_cast<double>(ref[i]) * ref[i];
  }
  return std::sqrt(diff) / std::sqrt(norm);
}

bool AllFinite(const std::vector<float>& values) {
  for (float v : values) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

double Tolerance(DType output, double f32) {
  switch (output) {
    case DType::kBF16: return 1e-2;
    case DType::kF16: return 2e-3;
    case DType::kF32:
    case DType::kI32:
    case DType::kI8:
    case DType::kI4: return f32;
  }
  return f32;
}

std::string DTypeLabel(DType dtype) { return std::string(DTypeName(dtype)); }

void ExpectClose(const DeviceTensorF& out, const std::vector<float>& ref, double tolerance,
                 const std::string& what) {
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << what << ": " << cudaGetErrorString(cudaGetLastError());
  EXPECT_TRUE(out.buffer.GuardsIntact()) << what << ": a write landed outside the output";
  const std::vector<float> got = out.Get();
  ASSERT_EQ(got.size(), ref.size());
  EXPECT_TRUE(AllFinite(got)) << what << ": NaN or Inf in the output (unwritten elements read as NaN)";
  const double error = NormalizedError(got, ref);
  EXPECT_LE(error, tolerance) << what << ": normalised error " << error;
}

}  // namespace bloom::gpu_test
