#include <algorithm>
#include <cstdint>

#include "kernels/cuda/cuda_dtype.cuh"
#include "kernels/cuda/device_sm_count.cuh"
#include "kernels/cuda/gemv.cuh"

namespace bloom::cuda {
namespace {

// The work is cut into row groups of kRowsPerBlock rows of W, and each row
// group into chunks of kChunk 16-byte vectors per row; a (group, chunk)
// pair is a tile. All kThreads threads of a block share a tile: thread i
// loads the vectors i, i + kThreads, ... (kUnroll of them) of each of the
// group's rows, so the block's reduction over K stays one warp-shuffle tree
// plus a pass through shared memory per group.
constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kRowsPerBlock = 4;
constexpr int kUnroll = 2;
constexpr int64_t kChunk = int64_t{kThreads} * kUnroll;  // vectors per row per tile

// Persistent grid: gridDim.x = min(groups, SMs * MinBlocksPerSm<N>()) blocks
// each take the row groups blockIdx.x, blockIdx.x + gridDim.x, ... The
// launch bound caps the registers so that this many blocks fit on an SM at
// once: the whole grid is one wave, every SM streams until the end and the
// SMs finish within one row group of each other. (The one-block-per-group
// grid before it, 5 blocks of 88 registers per SM at N = 1, was 1.55 waves
// at M = 4096, and its late blocks looped over K = 16384 alone at the end:
// 4h->h at 1.25x the floor against 1.10x for h->4h on an H200.)
// Two tiles in flight per thread (the register double buffer below) are
// 2 * kRowsPerBlock * kUnroll * 16 B = 256 B, 32 KB per block: 64-128 KB
// per SM, well over the ~25-30 KB per SM that the copy bandwidth times the
// DRAM latency asks for. More rows of x hold more accumulators (ptxas -v,
// sm_90, CUDA 13.0: ~100 registers at N = 1, 122-128 at N = 2-3, 158-166 at
// N = 4-6, 190-200 at N = 7-8, none spilled), so larger N gets fewer
// blocks per SM rather than spill; at each N the register use allows no
// more than this many, so the grid is exactly one full wave.
template <int N>
constexpr int MinBlocksPerSm() {
  return N <= 3 ? 4 : N <= 6 ? 3 : 2;
}

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

template <typename T, typename Y>
struct GemvArgs {
  const uint4* x;  // N rows of `vectors` vectors
  const uint4* w;  // m rows of `vectors` vectors
  const Y* bias;   // nullptr: none
  Y* y;
  int64_t m, vectors, groups, chunks;
  bool gelu;
};

using Tile = uint4[kRowsPerBlock][kUnroll];

// Issues the loads of tile (group, chunk) into `tile` and returns without
// waiting for them. Rows past M are clamped to M - 1 (read, never stored);
// vectors past the row's end are not read (zero in the tile).
template <typename T, typename Y>
__device__ __forceinline__ void LoadTile(const GemvArgs<T, Y>& a, int64_t group, int64_t chunk,
                                         Tile& tile) {
  const int64_t row0 = group * kRowsPerBlock;
#pragma unroll
  for (int r = 0; r < kRowsPerBlock; ++r) {
    const int64_t row = row0 + r < a.m ? row0 + r : a.m - 1;
    const uint4* w_row = a.w + row * a.vectors;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t v = chunk * kChunk + u * kThreads + threadIdx.x;
      // Weights are read once per step: stream them past the caches.
      tile[r][u] = v < a.vectors ? __ldcs(w_row + v) : make_uint4(0, 0, 0, 0);
    }
  }
}

// acc[r][n] += W[row r of the tile] · x[n] over the tile's vectors of this
// thread. The first use of `tile` is where the thread waits for its loads.
template <typename T, typename Y, int N>
__device__ __forceinline__ void AccumulateTile(const GemvArgs<T, Y>& a, int64_t chunk,
                                               const Tile& tile, float (&acc)[kRowsPerBlock][N]) {
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const int64_t v = chunk * kChunk + u * kThreads + threadIdx.x;
    if (v >= a.vectors) break;  // per thread; no shuffles here
    float wf[kRowsPerBlock][8];
#pragma unroll
    for (int r = 0; r < kRowsPerBlock; ++r) Unpack(tile[r][u], wf[r], T{});
#pragma unroll
    for (int n = 0; n < N; ++n) {
      float xf[8];
      // x (N * K * 2 bytes, read by every block) comes from L1/L2.
      Unpack(__ldg(a.x + n * a.vectors + v), xf, T{});
#pragma unroll
      for (int r = 0; r < kRowsPerBlock; ++r) {
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[r][n] = fmaf(wf[r][e], xf[e], acc[r][n]);
      }
    }
  }
}

// The end of a row group: reduce acc over the block, apply the epilogue,
// store, and zero acc for the next group. Called in block-uniform control
// flow (every thread holds the same group and chunk), so the full-mask
// shuffles and the barrier are safe. partial[parity] alternates between
// groups: a thread that has passed this group's barrier may already write
// the next group's partials while slower threads still read this group's,
// and it can only come back to this buffer after the next group's barrier,
// which every reader of this one has passed.
template <typename T, typename Y, int N>
__device__ __forceinline__ void FinishGroup(const GemvArgs<T, Y>& a, int64_t group,
                                            float (&acc)[kRowsPerBlock][N],
                                            float (&partial)[2][kWarps][kRowsPerBlock * N],
                                            int& parity) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
  for (int r = 0; r < kRowsPerBlock; ++r) {
#pragma unroll
    for (int n = 0; n < N; ++n) {
      float s = acc[r][n];
#pragma unroll
      for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
      if (lane == 0) partial[parity][warp][r * N + n] = s;
      acc[r][n] = 0.0f;
    }
  }
  __syncthreads();
  static_assert(kRowsPerBlock * N <= kThreads, "one output per thread");
  if (threadIdx.x < kRowsPerBlock * N) {
    const int i = threadIdx.x, r = i / N, n = i % N;
    const int64_t row = group * kRowsPerBlock + r;
    if (row < a.m) {
      float s = 0.0f;
#pragma unroll
      for (int j = 0; j < kWarps; ++j) s += partial[parity][j][i];
      if (a.bias != nullptr) s += ToFloat(a.bias[row]);
      if (a.gelu) s = GeluTanh(s);
      a.y[n * a.m + row] = FromFloat<Y>(s);
    }
  }
  parity ^= 1;
}

template <int N>
__device__ __forceinline__ void ZeroAccumulators(float (&acc)[kRowsPerBlock][N]) {
#pragma unroll
  for (int r = 0; r < kRowsPerBlock; ++r) {
#pragma unroll
    for (int n = 0; n < N; ++n) acc[r][n] = 0.0f;
  }
}

// One step of the software pipeline: issue the loads of the tile after
// (group, chunk) into `next` (the next chunk, or this block's next group),
// then use `current`, whose loads were issued one step earlier. So while a
// thread waits for a tile, the following one is already in flight, and the
// loads of a block's next group overlap this group's reduction. Advances
// (group, chunk) and returns whether there is a next tile.
template <typename T, typename Y, int N>
__device__ __forceinline__ bool Step(const GemvArgs<T, Y>& a, const Tile& current, Tile& next,
                                     int64_t& group, int64_t& chunk, float (&acc)[kRowsPerBlock][N],
                                     float (&partial)[2][kWarps][kRowsPerBlock * N], int& parity) {
  const bool last_chunk = chunk + 1 == a.chunks;
  const int64_t next_group = last_chunk ? group + gridDim.x : group;
  const int64_t next_chunk = last_chunk ? 0 : chunk + 1;
  const bool more = next_group < a.groups;
  if (more) LoadTile(a, next_group, next_chunk, next);
  AccumulateTile<T, Y, N>(a, chunk, current, acc);
  if (last_chunk) FinishGroup<T, Y, N>(a, group, acc, partial, parity);
  group = next_group;
  chunk = next_chunk;
  return more;
}

// y[n, row] = epilogue(x[n] · W[row] + bias[row]) for every row of the
// block's groups. The two tile buffers swap roles every step; the loop is
// written out twice rather than copying `next` into `current`, so both
// stay in registers with no moves.
template <typename T, typename Y, int N>
__global__ void __launch_bounds__(kThreads, MinBlocksPerSm<N>())
    GemvKernel(const GemvArgs<T, Y> a) {
  __shared__ float partial[2][kWarps][kRowsPerBlock * N];
  int parity = 0;
  float acc[kRowsPerBlock][N];
  ZeroAccumulators<N>(acc);
  int64_t group = blockIdx.x, chunk = 0;
  if (group >= a.groups) return;  // block-uniform; the launch never has such blocks
  Tile t0, t1;
  LoadTile(a, group, chunk, t0);
  while (Step<T, Y, N>(a, t0, t1, group, chunk, acc, partial, parity) &&
         Step<T, Y, N>(a, t1, t0, group, chunk, acc, partial, parity)) {
  }
}

// Short rows with many row groups (at most two chunks, K <= 2 * kChunk * 8,
// and each persistent block would take more than kShortRowsMinGroupsPerBlock
// groups): a block per row group, both tiles issued before either is used,
// no loop. Every thread's loads are in flight at once, so there is nothing
// to pipeline, and many small blocks keep more independent loads in flight
// than the persistent grid's blocks, each of which stops at a barrier per
// group. Measured on an H200 at N = 1 (bloom-cuda-bench --profile, two
// calls on the 7b1 plan): QKV (M = 12288, K = 4096) 28.5 us this way
// against 29.8 persistent, h->4h (M = 16384) 35.7 against 37.3; with few
// groups (attn_dense, M = 4096: 1024 groups, about 2 a persistent block)
// the persistent grid wins, 13.6 against 14.1 a block per group, and at
// K = 16384 (4h->h) 36.3 against 38.2.
constexpr int64_t kShortRowsMinGroupsPerBlock = 4;

template <typename T, typename Y, int N>
__global__ void __launch_bounds__(kThreads) GemvShortRowsKernel(const GemvArgs<T, Y> a) {
  __shared__ float partial[2][kWarps][kRowsPerBlock * N];
  int parity = 0;
  float acc[kRowsPerBlock][N];
  ZeroAccumulators<N>(acc);
  const int64_t group = blockIdx.x;
  Tile t0, t1;
  LoadTile(a, group, 0, t0);
  if (a.chunks > 1) LoadTile(a, group, 1, t1);  // block-uniform
  AccumulateTile<T, Y, N>(a, 0, t0, acc);
  if (a.chunks > 1) AccumulateTile<T, Y, N>(a, 1, t1, acc);
  FinishGroup<T, Y, N>(a, group, acc, partial, parity);
}

template <typename T, typename Y, int N>
cudaError_t LaunchFor(const GemmProblem& p, const void* x, const void* w, const void* bias, void* y,
                      cudaStream_t stream) {
  int sms = 0;
  if (const cudaError_t e = CurrentDeviceSmCount(&sms); e != cudaSuccess) return e;
  GemvArgs<T, Y> a;
  a.x = static_cast<const uint4*>(x);
  a.w = static_cast<const uint4*>(w);
  a.bias = p.has_bias ? static_cast<const Y*>(bias) : nullptr;
  a.y = static_cast<Y*>(y);
  a.m = p.out_features;
  a.vectors = p.in_features / 8;
  a.groups = (p.out_features + kRowsPerBlock - 1) / kRowsPerBlock;
  a.chunks = (a.vectors + kChunk - 1) / kChunk;
  a.gelu = p.gelu;
  const int64_t persistent_blocks = int64_t{sms} * MinBlocksPerSm<N>();
  if (a.chunks <= 2 && a.groups > kShortRowsMinGroupsPerBlock * persistent_blocks) {
    GemvShortRowsKernel<T, Y, N><<<static_cast<unsigned>(a.groups), kThreads, 0, stream>>>(a);
  } else {
    const int64_t blocks = std::min<int64_t>(a.groups, persistent_blocks);
    GemvKernel<T, Y, N><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(a);
  }
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
  // The bound of the one-block-per-group grid this kernel had; kept so
  // that the set of problems taken does not change (no real M reaches it).
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
