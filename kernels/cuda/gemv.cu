#include <cstdint>

#include "kernels/cuda/cuda_dtype.cuh"
#include "kernels/cuda/gemv.cuh"

namespace bloom::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
// Rows of W per block, and 16-byte vectors of each row a thread loads
// before it uses any: kRowsPerBlock * kUnroll independent loads in flight
// per thread, which is what keeps HBM busy at N = 1.
constexpr int kRowsPerBlock = 4;
constexpr int kUnroll = 4;

// Eight 16-bit values packed in a uint4, as floats.
__device__ __forceinline__ void Unpack(const uint4& v, float (&out)[8], __nv_bfloat16) {
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    // A bf16 is the high half of the fp32 with the same value.
    out[2 * i] = __uint_as_float(words[i] << 16);
    out[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
  }
}

__device__ __forceinline__ void Unpack(const uint4& v, float (&out)[8], __half) {
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    __half2 h;
    memcpy(&h, &words[i], sizeof(h));
    const float2 f = __half22float2(h);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}

// Block b computes rows [b * kRowsPerBlock, ...) of W against all N rows
// of x. Thread i takes the 16-byte vectors i, i + kThreads, ... of each
// row; the fp32 partial sums are reduced over the warp by shuffles and over
// the block through shared memory. Rows past M are clamped to M - 1 for the
// loads and never stored.
template <typename T, typename Y, int N>
__global__ void __launch_bounds__(kThreads)
    GemvKernel(const T* __restrict__ x, const T* __restrict__ w, const Y* __restrict__ bias,
               Y* __restrict__ y, int64_t m, int64_t k, bool gelu) {
  __shared__ float partial[kWarps][kRowsPerBlock * N];
  const int64_t vectors = k / 8;  // per row
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock;
  const uint4* w_rows[kRowsPerBlock];
#pragma unroll
  for (int r = 0; r < kRowsPerBlock; ++r) {
    const int64_t row = row0 + r < m ? row0 + r : m - 1;
    w_rows[r] = reinterpret_cast<const uint4*>(w) + row * vectors;
  }
  const uint4* x_rows = reinterpret_cast<const uint4*>(x);

  float acc[kRowsPerBlock][N];
#pragma unroll
  for (int r = 0; r < kRowsPerBlock; ++r) {
#pragma unroll
    for (int n = 0; n < N; ++n) acc[r][n] = 0.0f;
  }

  for (int64_t base = threadIdx.x; base < vectors; base += kThreads * kUnroll) {
    uint4 wv[kUnroll][kRowsPerBlock];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t v = base + u * kThreads;
#pragma unroll
      for (int r = 0; r < kRowsPerBlock; ++r) {
        // Weights are read once per step: stream them past the caches.
        wv[u][r] = v < vectors ? __ldcs(w_rows[r] + v) : make_uint4(0, 0, 0, 0);
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t v = base + u * kThreads;
      if (v >= vectors) break;
      float wf[kRowsPerBlock][8];
#pragma unroll
      for (int r = 0; r < kRowsPerBlock; ++r) Unpack(wv[u][r], wf[r], T{});
#pragma unroll
      for (int n = 0; n < N; ++n) {
        float xf[8];
        Unpack(__ldg(x_rows + n * vectors + v), xf, T{});
#pragma unroll
        for (int r = 0; r < kRowsPerBlock; ++r) {
#pragma unroll
          for (int e = 0; e < 8; ++e) acc[r][n] = fmaf(wf[r][e], xf[e], acc[r][n]);
        }
      }
    }
  }

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
  for (int r = 0; r < kRowsPerBlock; ++r) {
#pragma unroll
    for (int n = 0; n < N; ++n) {
      float s = acc[r][n];
#pragma unroll
      for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
      if (lane == 0) partial[warp][r * N + n] = s;
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < kRowsPerBlock * N; i += kThreads) {
    const int r = i / N, n = i % N;
    const int64_t row = row0 + r;
    if (row >= m) continue;
    float s = 0.0f;
#pragma unroll
    for (int j = 0; j < kWarps; ++j) s += partial[j][i];
    if (bias != nullptr) s += ToFloat(bias[row]);
    if (gelu) s = GeluTanh(s);
    y[n * m + row] = FromFloat<Y>(s);
  }
}

template <typename T, typename Y, int N>
cudaError_t LaunchFor(const GemmProblem& p, const void* x, const void* w, const void* bias, void* y,
                      cudaStream_t stream) {
  const int64_t blocks = (p.out_features + kRowsPerBlock - 1) / kRowsPerBlock;
  GemvKernel<T, Y, N><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      static_cast<const T*>(x), static_cast<const T*>(w),
      p.has_bias ? static_cast<const Y*>(bias) : nullptr, static_cast<Y*>(y), p.out_features,
      p.in_features, p.gelu);
  return cudaGetLastError();
}

template <typename T, typename Y>
cudaError_t DispatchRows(const GemmProblem& p, const void* x, const void* w, const void* bias,
                         void* y, cudaStream_t stream) {
  switch (p.rows) {
    case 1:
      return LaunchFor<T, Y, 1>(p, x, w, bias, y, stream);
    case 2:
      return LaunchFor<T, Y, 2>(p, x, w, bias, y, stream);
    case 3:
      return LaunchFor<T, Y, 3>(p, x, w, bias, y, stream);
    case 4:
      return LaunchFor<T, Y, 4>(p, x, w, bias, y, stream);
    case 5:
      return LaunchFor<T, Y, 5>(p, x, w, bias, y, stream);
    case 6:
      return LaunchFor<T, Y, 6>(p, x, w, bias, y, stream);
    case 7:
      return LaunchFor<T, Y, 7>(p, x, w, bias, y, stream);
    case 8:
      return LaunchFor<T, Y, 8>(p, x, w, bias, y, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

bool GemvSupports(const GemmProblem& p, const void* x, const void* w) {
  static_assert(kGemvMaxRows == 8, "DispatchRows instantiates N = 1..8");
  if (p.rows < 1 || p.rows > kGemvMaxRows || p.out_features < 1 || p.in_features < 8) return false;
  if (p.x_dtype != p.w_dtype || (p.x_dtype != DType::kBF16 && p.x_dtype != DType::kF16))
    return false;
  if (p.y_dtype != p.x_dtype && p.y_dtype != DType::kF32) return false;
  if (p.out_features > 0x7fffffffLL * kRowsPerBlock) return false;
  return p.in_features % 8 == 0 && Aligned16(x) && Aligned16(w);
}

cudaError_t LaunchGemv(const GemmProblem& p, const void* x, const void* w, const void* bias,
                       void* y, cudaStream_t stream) {
  if (!GemvSupports(p, x, w) || (p.has_bias && bias == nullptr)) return cudaErrorInvalidValue;
  const bool f32_out = p.y_dtype == DType::kF32;
  if (p.x_dtype == DType::kBF16) {
    return f32_out ? DispatchRows<__nv_bfloat16, float>(p, x, w, bias, y, stream)
                   : DispatchRows<__nv_bfloat16, __nv_bfloat16>(p, x, w, bias, y, stream);
  }
  return f32_out ? DispatchRows<__half, float>(p, x, w, bias, y, stream)
                 : DispatchRows<__half, __half>(p, x, w, bias, y, stream);
}

}  // namespace bloom::cuda
