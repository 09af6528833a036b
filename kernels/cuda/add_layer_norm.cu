#include "kernels/cuda/add_layer_norm.cuh"

#include <cstdint>

#include "kernels/cuda/row_norm.cuh"

namespace bloom::cuda {
namespace {

__global__ void AddLayerNormKernel(const void* a, DType a_dtype, const void* b, DType b_dtype,
                                   const void* gamma, DType gamma_dtype, const void* beta,
                                   DType beta_dtype, int64_t cols, float epsilon, void* sum,
                                   DType sum_dtype, void* normed, DType normed_dtype) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  float v[kRowNormMaxPerThread];
#pragma unroll
  for (int k = 0; k < kRowNormMaxPerThread; ++k) {
    const int64_t c = threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
    v[k] = c < cols ? LoadFloat(a, row * cols + c, a_dtype) + LoadFloat(b, row * cols + c, b_dtype)
                    : 0.0f;
  }
  __syncthreads();  // all reads of the row before any write: outputs may alias inputs
#pragma unroll
  for (int k = 0; k < kRowNormMaxPerThread; ++k) {
    const int64_t c = threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
    if (c < cols) StoreFloat(sum, row * cols + c, sum_dtype, v[k]);
  }
  NormalizeRow(v, cols, gamma, gamma_dtype, beta, beta_dtype, epsilon, normed, row * cols,
               normed_dtype, scratch);
}

// Eight 16-bit values of a uint4 to floats and back.
template <typename T>
__device__ __forceinline__ void ToFloats(const uint4& packed, float (&out)[8]) {
  const T* e = reinterpret_cast<const T*>(&packed);
#pragma unroll
  for (int i = 0; i < 8; ++i) out[i] = ToFloat(e[i]);
}

template <typename T>
__device__ __forceinline__ uint4 FromFloats(const float (&in)[8]) {
  uint4 packed;
  T* e = reinterpret_cast<T*>(&packed);
#pragma unroll
  for (int i = 0; i < 8; ++i) e[i] = FromFloat<T>(in[i]);
  return packed;
}

// The decode-sized path: every tensor in one 16-bit dtype, a row of
// `vectors` 16-byte vectors, thread i owning vectors i and i + blockDim.x
// (kVec of them). All loads (a, b, gamma, beta) are issued before the
// first reduction, so a row costs about one memory round trip plus the two
// block sums; the generic kernel's 2-byte loads and serial phases made a
// 4096-wide row take ~10 us.
template <typename T, int kVec>
__global__ void AddLayerNormVecKernel(const uint4* a, const uint4* b, const uint4* gamma,
                                      const uint4* beta, int vectors, float epsilon, uint4* sum,
                                      uint4* normed) {
  __shared__ float scratch[32];
  const int64_t row = static_cast<int64_t>(blockIdx.x) * vectors;
  uint4 ra[kVec], rb[kVec], rg[kVec], rbeta[kVec];
#pragma unroll
  for (int k = 0; k < kVec; ++k) {
    const int v = threadIdx.x + k * blockDim.x;
    if (v < vectors) {
      ra[k] = a[row + v];
      rb[k] = b[row + v];
      rg[k] = __ldg(gamma + v);
      rbeta[k] = __ldg(beta + v);
    }
  }
  float x[kVec][8];
  float total = 0.0f;
#pragma unroll
  for (int k = 0; k < kVec; ++k) {
    const int v = threadIdx.x + k * blockDim.x;
    if (v < vectors) {
      float fa[8], fb[8];
      ToFloats<T>(ra[k], fa);
      ToFloats<T>(rb[k], fb);
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        x[k][i] = fa[i] + fb[i];
        total += x[k][i];
      }
    }
  }
  // BlockSum synchronises before its shared-memory write, so every read of
  // the row happens before any write: outputs may alias inputs.
  const float cols = 8.0f * vectors;
  const float mean = BlockSum(total, scratch) / cols;
  float squares = 0.0f;
#pragma unroll
  for (int k = 0; k < kVec; ++k) {
    const int v = threadIdx.x + k * blockDim.x;
    if (v < vectors) {
#pragma unroll
      for (int i = 0; i < 8; ++i) squares += (x[k][i] - mean) * (x[k][i] - mean);
    }
  }
  const float inv_std = rsqrtf(BlockSum(squares, scratch) / cols + epsilon);
#pragma unroll
  for (int k = 0; k < kVec; ++k) {
    const int v = threadIdx.x + k * blockDim.x;
    if (v < vectors) {
      float fg[8], fbeta[8], y[8];
      ToFloats<T>(rg[k], fg);
      ToFloats<T>(rbeta[k], fbeta);
#pragma unroll
      for (int i = 0; i < 8; ++i) y[i] = (x[k][i] - mean) * inv_std * fg[i] + fbeta[i];
      sum[row + v] = FromFloats<T>(x[k]);
      normed[row + v] = FromFloats<T>(y);
    }
  }
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <typename T>
cudaError_t LaunchVec(const void* a, const void* b, const void* gamma, const void* beta, int64_t rows,
                      int64_t cols, float epsilon, void* sum, void* normed, cudaStream_t stream) {
  const int vectors = static_cast<int>(cols / 8);
  const int per_thread = (vectors + 1023) / 1024;
  const int threads = ((vectors + per_thread - 1) / per_thread + 31) / 32 * 32;
  auto args = [&](auto kernel) {
    kernel<<<static_cast<unsigned>(rows), threads, 0, stream>>>(
        static_cast<const uint4*>(a), static_cast<const uint4*>(b), static_cast<const uint4*>(gamma),
        static_cast<const uint4*>(beta), vectors, epsilon, static_cast<uint4*>(sum),
        static_cast<uint4*>(normed));
    return cudaGetLastError();
  };
  return per_thread == 1 ? args(AddLayerNormVecKernel<T, 1>) : args(AddLayerNormVecKernel<T, 2>);
}

}  // namespace

cudaError_t LaunchAddLayerNorm(const void* a, DType a_dtype, const void* b, DType b_dtype,
                               const void* gamma, DType gamma_dtype, const void* beta,
                               DType beta_dtype, int64_t rows, int64_t cols, float epsilon,
                               void* sum, DType sum_dtype, void* normed, DType normed_dtype,
                               cudaStream_t stream) {
  if (cols < 1 || cols > kRowNormMaxCols) return cudaErrorInvalidValue;
  if (rows <= 0) return cudaSuccess;
  const bool one_dtype = a_dtype == b_dtype && a_dtype == gamma_dtype && a_dtype == beta_dtype &&
                         a_dtype == sum_dtype && a_dtype == normed_dtype;
  if (one_dtype && (a_dtype == DType::kBF16 || a_dtype == DType::kF16) && cols % 8 == 0 &&
      cols <= 2 * 1024 * 8 && Aligned16(a) && Aligned16(b) && Aligned16(gamma) && Aligned16(beta) &&
      Aligned16(sum) && Aligned16(normed)) {
    return a_dtype == DType::kBF16
               ? LaunchVec<__nv_bfloat16>(a, b, gamma, beta, rows, cols, epsilon, sum, normed, stream)
               : LaunchVec<__half>(a, b, gamma, beta, rows, cols, epsilon, sum, normed, stream);
  }
  AddLayerNormKernel<<<static_cast<unsigned>(rows), RowNormThreads(cols), 0, stream>>>(
      a, a_dtype, b, b_dtype, gamma, gamma_dtype, beta, beta_dtype, cols, epsilon, sum, sum_dtype,
      normed, normed_dtype);
  return cudaGetLastError();
}

}  // namespace bloom::cuda
