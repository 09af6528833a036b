#include "kernels/cuda/quantized_gemm.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels/cuda/cuda_dtype.cuh"
#include "kernels/cuda/device_sm_count.cuh"
#include "kernels/cuda/quantized_fragments.cuh"

namespace bloom::cuda {
namespace {

using namespace quantized_fragments;  // NOLINT: the kernel's own device pieces

// The tensor-core path. A block is 4 warps over a row block of 128 rows of
// W; warp w takes the 32-row unit w of it (dequantize.cuh, "The tile
// layout") as two 16-row m-tiles. A unit's tiles (64 bytes a row: 128 int4
// or 64 int8 columns) are one contiguous run of memory. Each warp streams
// its tiles through a ring of kStages tiles in shared memory, filled by
// cp.async (16 bytes a lane, past L1, evict-first in L2), so the bytes in
// flight cost no registers: 4 blocks fit an SM (16 warps, about 190 KB in
// flight per SM), where the earlier register ring held 64 registers a
// thread and let one 8-warp block fit. x is read straight from global
// memory through L1 (the block's warps read the same columns at about the
// same time), so the warps never wait on each other inside a segment.
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kWarpTiles = kUnitMTiles;  // a warp takes a 32-row unit, two m-tiles
constexpr int64_t kBlockRows = kWarps * kWarpTiles * 16;
constexpr int kStages = 5;
constexpr int kBlocksPerSm = 4;
// Partial sums of a row block: [rows][kQuantizedGemmMaxRows] floats, then
// one counter of added tiles per row block.
constexpr int kWorkspaceTokens = static_cast<int>(kQuantizedGemmMaxRows);

// Bytes of one tile (TilesOf's tile_bytes) as a constant of the kernel.
template <bool kInt4, int GPT>
constexpr int kTileBytesOf = kInt4 ? static_cast<int>(kTileValueBytes) + 96 * GPT
                                   : static_cast<int>(kTileValueBytes);
static_assert(kWarps * kStages * kTileBytesOf<true, 4> <= 48 * 1024,
              "the ring must fit the static shared memory of a block");

int64_t RowBlocks(int64_t m) { return (m + kBlockRows - 1) / kBlockRows; }

struct MmaParams {
  const uint8_t* tiles;
  const uint16_t* scales;  // int8: f16 bits [M]
  const void* x;
  const void* bias;
  void* y;
  float* partial;
  unsigned* counters;
  // Work items: (row block, tile) pairs, item = row_block * tiles_per_row +
  // tile; weight_units: the weight's 32-row units.
  int64_t m, k, tile_bytes, tiles_per_row, weight_units, items;
  int n;
  DType y_dtype;
  bool gelu;
};

// The lane's rows of x: token nt * 8 + g of each n-tile, already offset
// to the lane's first 16-byte piece of a tile (int4 c, int8 2c), or null
// for a row past N (its columns of the products are zero and never stored).
template <int NT>
struct XRows {
  const uint4* row[NT];
};
__device__ __forceinline__ uint4 XPiece(const uint4* row, int64_t piece) {
  return row != nullptr ? __ldg(row + piece) : make_uint4(0, 0, 0, 0);
}

// x's pieces a lane multiplies with one tile: int4 j = 0..3 (columns 32j +
// 8c of the tile's 128), int8 two (16c and 16c + 8 of its 64).
template <bool kInt4>
constexpr int kXPieces = kInt4 ? 4 : 2;
template <bool kInt4, int NT>
using TileX = uint4[kXPieces<kInt4>][NT];
template <bool kInt4, int NT>
__device__ __forceinline__ void LoadTileX(const XRows<NT>& x, int64_t tile, TileX<kInt4, NT>& xv) {
#pragma unroll
  for (int i = 0; i < kXPieces<kInt4>; ++i) {
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) xv[i][nt] = XPiece(x.row[nt], kInt4 ? tile * 16 + 4 * i : tile * 8 + i);
  }
}

// A fragments of all ones (bf16 1.0 pairs): multiplied by x they give the
// sums of x over each k-step, for the zero-point fold below.
constexpr uint32_t kBf16OnePair = 0x3F803F80u;

// Multiplies the warp's tile `s` (tile `tile` of the row) into acc.
//
// int4 with bf16 x folds the zero point out of the weights: the A
// fragments are the raw magic values 128 + u (u = q + 8 as stored), one
// LOP3 per two values, and each group's sum is corrected in fp32,
//   sum (q - z) x = sum (128 + u) x - (136 + z) sum x,
// with sum x from one more mma per k-step against a fragment of ones. That
// saves the subtraction per two values; the cost is the cancellation of the
// 128 x offset, about 2^-17 of sum |x| against errors of 2^-8 the bf16 y
// rounding brings (quantized_parity_test holds it to the f32 bound too).
// f16 x keeps the exact subtraction: its magic, 1024, would cancel 10 bits.
template <typename T, bool kInt4, int NT, int GPT>
__device__ __forceinline__ void ComputeStage(const Stage<GPT>& s, const TileX<kInt4, NT>& xv,
                                             const XRows<NT>& x, int64_t tile,
                                             float (&acc)[kWarpTiles][NT][4]) {
  if constexpr (kInt4 && NT == 4) {
    // 32 tokens: the registers hold one m-tile's partial sums at a time
    // (m-tiles outer) and one k-step's x (loaded where used, from L1 the
    // second time; xv is not read), and the zero point is subtracted
    // exactly (no sums of x to keep). One group a tile (GPT 1), as
    // LaunchQuantizedGemm ensures.
    static_assert(GPT == 1, "the 32-token product takes one group a tile");
#pragma unroll
    for (int w = 0; w < kWarpTiles; ++w) {
      float scale[2];
      uint32_t zero[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        scale[h] = ScaleOf<GPT>(s.scales[w][h], 0);
        zero[h] = (kMagic<T> + ZeroOf(s.zeros[w][h], 0) + 8) * 0x00010001u;
      }
      float part[NT][4];
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) part[nt][e] = 0.0f;
      }
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const uint32_t top = WordOf(s.w[w][0], j), bottom = WordOf(s.w[w][1], j);
        uint4 xj[NT];
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) xj[nt] = XPiece(x.row[nt], tile * 16 + 4 * j);
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const uint32_t a[4] = {Sub2<T>(Int4Pair<T>(top, 8 * h), zero[0]),
                                 Sub2<T>(Int4Pair<T>(bottom, 8 * h), zero[1]),
                                 Sub2<T>(Int4Pair<T>(top, 8 * h + 4), zero[0]),
                                 Sub2<T>(Int4Pair<T>(bottom, 8 * h + 4), zero[1])};
#pragma unroll
          for (int nt = 0; nt < NT; ++nt) {
            Mma<T>(part[nt], a, WordOf(xj[nt], 2 * h), WordOf(xj[nt], 2 * h + 1));
          }
        }
      }
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[w][nt][e] = fmaf(scale[e / 2], part[nt][e], acc[w][nt][e]);
      }
    }
  } else if constexpr (kInt4) {
    constexpr bool kFoldZero = std::is_same_v<T, __nv_bfloat16>;
    float scale[kWarpTiles][2];
    uint32_t zero[kWarpTiles][2];    // exact subtraction: magic + z + 8 in both halves
    float offset[kWarpTiles][2];     // fold: 136 + z
    float part[kWarpTiles][NT][4];
    float xsum[NT][4];
    constexpr int kPairsPerGroup = 4 / GPT;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      if (j % kPairsPerGroup == 0) {
        const int gi = j / kPairsPerGroup;
#pragma unroll
        for (int w = 0; w < kWarpTiles; ++w) {
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            scale[w][h] = ScaleOf<GPT>(s.scales[w][h], gi);
            const int z = ZeroOf(s.zeros[w][h], gi) + 8;
            if constexpr (kFoldZero) offset[w][h] = 128.0f + static_cast<float>(z);
            else zero[w][h] = (kMagic<T> + z) * 0x00010001u;
          }
#pragma unroll
          for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
            for (int e = 0; e < 4; ++e) part[w][nt][e] = 0.0f;
          }
        }
        if constexpr (kFoldZero) {
#pragma unroll
          for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
            for (int e = 0; e < 4; ++e) xsum[nt][e] = 0.0f;
          }
        }
      }
#pragma unroll
      for (int h = 0; h < 2; ++h) {
#pragma unroll
        for (int w = 0; w < kWarpTiles; ++w) {
          const uint32_t top = WordOf(s.w[w][0], j), bottom = WordOf(s.w[w][1], j);
          uint32_t a[4] = {Int4Pair<T>(top, 8 * h), Int4Pair<T>(bottom, 8 * h), Int4Pair<T>(top, 8 * h + 4),
                           Int4Pair<T>(bottom, 8 * h + 4)};
          if constexpr (!kFoldZero) {
            a[0] = Sub2<T>(a[0], zero[w][0]);
            a[1] = Sub2<T>(a[1], zero[w][1]);
            a[2] = Sub2<T>(a[2], zero[w][0]);
            a[3] = Sub2<T>(a[3], zero[w][1]);
          }
#pragma unroll
          for (int nt = 0; nt < NT; ++nt) {
            Mma<T>(part[w][nt], a, WordOf(xv[j][nt], 2 * h), WordOf(xv[j][nt], 2 * h + 1));
          }
        }
        if constexpr (kFoldZero) {
          const uint32_t ones[4] = {kBf16OnePair, kBf16OnePair, kBf16OnePair, kBf16OnePair};
#pragma unroll
          for (int nt = 0; nt < NT; ++nt) {
            Mma<T>(xsum[nt], ones, WordOf(xv[j][nt], 2 * h), WordOf(xv[j][nt], 2 * h + 1));
          }
        }
      }
      if (j % kPairsPerGroup == kPairsPerGroup - 1) {
#pragma unroll
        for (int w = 0; w < kWarpTiles; ++w) {
#pragma unroll
          for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              float v = part[w][nt][e];
              if constexpr (kFoldZero) v = fmaf(-offset[w][e / 2], xsum[nt][e], v);
              acc[w][nt][e] = fmaf(scale[w][e / 2], v, acc[w][nt][e]);
            }
          }
        }
      }
    }
  } else {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
#pragma unroll
      for (int w = 0; w < kWarpTiles; ++w) {
        const uint32_t top = WordOf(s.w[w][0], j) ^ 0x80808080u;
        const uint32_t bottom = WordOf(s.w[w][1], j) ^ 0x80808080u;
        const uint32_t a[4] = {Int8Pair<T>(top, 0), Int8Pair<T>(bottom, 0), Int8Pair<T>(top, 2),
                               Int8Pair<T>(bottom, 2)};
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          Mma<T>(acc[w][nt], a, WordOf(xv[j / 2][nt], 2 * (j % 2)), WordOf(xv[j / 2][nt], 2 * (j % 2) + 1));
        }
      }
    }
  }
}

// The block's run of work items: each stretch inside one row block is a
// segment, through which each warp streams its unit's tiles.
template <typename T, bool kInt4, int NT, int GPT>
__global__ void __launch_bounds__(kThreads, kBlocksPerSm) QuantizedMmaKernel(MmaParams p) {
  constexpr int kTileBytes = kTileBytesOf<kInt4, GPT>;
  __shared__ __align__(16) uint8_t ring[kWarps][kStages][kTileBytes];
  __shared__ int last_block;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
  XRows<NT> x;
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    const int token = nt * 8 + g;
    x.row[nt] = token < p.n ? static_cast<const uint4*>(p.x) + token * (p.k / 8) + (kInt4 ? c : 2 * c)
                            : nullptr;
  }
  const uint64_t policy = EvictFirstPolicy();
  const int64_t first_item = blockIdx.x * p.items / gridDim.x;
  const int64_t end_item = (blockIdx.x + 1) * p.items / gridDim.x;
  for (int64_t item = first_item; item < end_item;) {
    const int64_t row_block = item / p.tiles_per_row, t0 = item % p.tiles_per_row;
    const int64_t t1 = min(p.tiles_per_row, t0 + (end_item - item));
    const int64_t unit = row_block * kWarps + warp;
    const int64_t warp_row = unit * kTileUnitRows;
    const bool active = unit < p.weight_units;  // else the warp only keeps the barriers
    const uint8_t* unit_tiles = p.tiles + unit * p.tiles_per_row * kTileBytes;
    float acc[kWarpTiles][NT][4];
#pragma unroll
    for (int w = 0; w < kWarpTiles; ++w) {
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[w][nt][e] = 0.0f;
      }
    }

    if (active) {
      // kStages - 1 tiles ahead of the one multiplied; a commit group per
      // tile, empty past the segment's end, so that waiting for all but the
      // newest kStages - 2 groups always means "this tile has landed".
#pragma unroll
      for (int i = 0; i < kStages - 1; ++i) {
        if (t0 + i < t1) CopyTile<kTileBytes>(ring[warp][i], unit_tiles + (t0 + i) * kTileBytes, lane, policy);
        CommitGroup();
      }
      int slot = 0, refill = kStages - 1;
      // One n-tile's x is loaded a tile ahead, so its L2 latency (x outgrows
      // L1 at large K) overlaps a tile's work; two n-tiles' would not fit
      // the registers, and load where they are used.
      constexpr bool kXAhead = NT == 1;
      TileX<kInt4, NT> xv;
      if constexpr (kXAhead) LoadTileX<kInt4, NT>(x, t0, xv);
      for (int64_t t = t0; t < t1; ++t) {
        WaitGroup<kStages - 2>();
        // Every lane's copies of tile t have landed, and every lane is done
        // with tile t - 1's slot, which the refill below overwrites.
        __syncwarp();
        if (t + kStages - 1 < t1) {
          CopyTile<kTileBytes>(ring[warp][refill], unit_tiles + (t + kStages - 1) * kTileBytes, lane, policy);
        }
        CommitGroup();
        Stage<GPT> s;
        LoadStage<kInt4, GPT>(s, ring[warp][slot], lane);
        if constexpr (kXAhead) {
          TileX<kInt4, NT> now;
#pragma unroll
          for (int i = 0; i < kXPieces<kInt4>; ++i) now[i][0] = xv[i][0];
          if (t + 1 < t1) LoadTileX<kInt4, NT>(x, t + 1, xv);
          ComputeStage<T, kInt4, NT, GPT>(s, now, x, t, acc);
        } else {
          if constexpr (!(kInt4 && NT == 4)) LoadTileX<kInt4, NT>(x, t, xv);  // else loaded inside
          ComputeStage<T, kInt4, NT, GPT>(s, xv, x, t, acc);
        }
        slot = slot + 1 == kStages ? 0 : slot + 1;
        refill = refill + 1 == kStages ? 0 : refill + 1;
      }
      // Only empty groups can still be pending; the barrier below keeps the
      // next segment's copies from overwriting slots still being read.
    }

    if (active) {
      if constexpr (!kInt4) {
        // int8: one scale a row (groups == 1), applied to the sum.
#pragma unroll
        for (int w = 0; w < kWarpTiles; ++w) {
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const int64_t row = min(warp_row + 16 * w + 8 * h + g, p.m - 1);
            const float scale = __half2float(__ushort_as_half(__ldg(p.scales + row)));  // [M]
#pragma unroll
            for (int nt = 0; nt < NT; ++nt) {
              acc[w][nt][2 * h] *= scale;
              acc[w][nt][2 * h + 1] *= scale;
            }
          }
        }
      }
      // C fragment: rows g and g + 8 of the m-tile, tokens 2c and 2c + 1.
#pragma unroll
      for (int w = 0; w < kWarpTiles; ++w) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int64_t row = warp_row + 16 * w + 8 * h + g;
#pragma unroll
          for (int nt = 0; nt < NT; ++nt) {
            const int token = nt * 8 + 2 * c;
            if (row < p.m && token < p.n) {
              atomicAdd(reinterpret_cast<float2*>(p.partial + row * kWorkspaceTokens + token),
                        make_float2(acc[w][nt][2 * h], acc[w][nt][2 * h + 1]));
            }
          }
        }
      }
    }
    // The block that adds a row block's last tile finishes it (the
    // threadFenceReduction pattern: fence, then count).
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
      const unsigned added = static_cast<unsigned>(t1 - t0);
      last_block = atomicAdd(p.counters + row_block, added) + added == p.tiles_per_row;
    }
    __syncthreads();
    if (last_block) {
      __threadfence();
      const int64_t row = row_block * kBlockRows + threadIdx.x;
      if (row < p.m) {
        float4* partial = reinterpret_cast<float4*>(p.partial + row * kWorkspaceTokens);
        float sums[kWorkspaceTokens];
#pragma unroll
        for (int i = 0; i < kWorkspaceTokens / 4; ++i) {
          const float4 v = __ldcg(partial + i);
          sums[4 * i] = v.x, sums[4 * i + 1] = v.y, sums[4 * i + 2] = v.z, sums[4 * i + 3] = v.w;
        }
        const float bias = p.bias != nullptr ? LoadFloat(p.bias, row, p.y_dtype) : 0.0f;
#pragma unroll
        for (int token = 0; token < kWorkspaceTokens; ++token) {
          if (token >= p.n) break;
          float v = sums[token] + bias;
          if (p.gelu) v = GeluTanh(v);
          StoreFloat(p.y, token * p.m + row, p.y_dtype, v);
        }
#pragma unroll
        for (int i = 0; i < kWorkspaceTokens / 4; ++i) __stcg(partial + i, make_float4(0, 0, 0, 0));
      }
      if (threadIdx.x == 0) p.counters[row_block] = 0;
    }
    item += t1 - t0;
  }
}

// The CUDA-core path: one warp per output row, lanes strided over K, each
// element dequantized on its own. Correct for every valid weight.
template <typename T>
__global__ void __launch_bounds__(256) QuantizedSimtKernel(QuantizedWeight w, const T* x,
                                                           const void* bias, void* y, DType y_dtype,
                                                           int n, bool gelu) {
  const int64_t row = blockIdx.x * 8LL + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= w.out_features) return;
  float acc[kWorkspaceTokens];
#pragma unroll
  for (int t = 0; t < kWorkspaceTokens; ++t) acc[t] = 0.0f;
  for (int64_t k = lane; k < w.in_features; k += 32) {
    const float v = DequantizedAt(w, row, k);
#pragma unroll
    for (int t = 0; t < kWorkspaceTokens; ++t) {
      if (t < n) acc[t] = fmaf(v, ToFloat(x[t * w.in_features + k]), acc[t]);
    }
  }
#pragma unroll
  for (int t = 0; t < kWorkspaceTokens; ++t) {
#pragma unroll
    for (int o = 16; o > 0; o /= 2) acc[t] += __shfl_xor_sync(0xffffffffu, acc[t], o);
  }
  if (lane != 0) return;
  const float b = bias != nullptr ? LoadFloat(bias, row, y_dtype) : 0.0f;
#pragma unroll
  for (int t = 0; t < kWorkspaceTokens; ++t) {
    if (t >= n) break;
    float v = acc[t] + b;
    if (gelu) v = GeluTanh(v);
    StoreFloat(y, t * w.out_features + row, y_dtype, v);
  }
}

bool Aligned(const void* p, uintptr_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

bool ProblemMatches(const GemmProblem& p, const QuantizedWeight& w) {
  if (!QuantizedWeightValid(w) || p.w_dtype != w.format) return false;
  if (p.in_features != w.in_features || p.out_features != w.out_features) return false;
  if (p.x_dtype != DType::kBF16 && p.x_dtype != DType::kF16) return false;
  return p.y_dtype == p.x_dtype || p.y_dtype == DType::kF32;
}

// The blocks of a full persistent grid: `per_sm` blocks of the kernel fit
// on each multiprocessor at once.
int64_t ResidentBlocks(int per_sm) {
  int sms = 0;
  if (CurrentDeviceSmCount(&sms) != cudaSuccess) {
    cudaGetLastError();
    sms = 1;
  }
  return static_cast<int64_t>(per_sm) * sms;
}

template <typename T, bool kInt4, int NT, int GPT>
cudaError_t LaunchMma(const MmaParams& params, int64_t max_blocks, cudaStream_t stream) {
  auto kernel = QuantizedMmaKernel<T, kInt4, NT, GPT>;
  static const int per_sm = [&] {  // once per kernel
    int fit = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&fit, kernel, kThreads, 0) != cudaSuccess) {
      cudaGetLastError();
      fit = 1;
    }
    return std::max(fit, 1);
  }();
  int64_t blocks = max_blocks > 0 ? max_blocks : ResidentBlocks(per_sm);
  blocks = std::min(blocks, params.items);
  kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(params);
  return cudaGetLastError();
}

// Rows of x one launch takes for this weight: 32 where the 32-token kernel
// applies (int8, or int4 with one group a tile), else 16.
int64_t RowsPerLaunch(const QuantizedWeight& w, bool tensor_cores) {
  if (!tensor_cores) return kQuantizedGemmMaxRows;
  const bool wide = w.format == DType::kI8 ||
                    TilesOf(w.format, w.out_features, w.in_features, w.group_size).groups_per_tile == 1;
  return wide ? 32 : 16;
}

template <typename T>
cudaError_t DispatchMma(const MmaParams& params, bool int4, int groups_per_tile, int64_t max_blocks,
                        cudaStream_t stream) {
  // n-tiles of 8 tokens: 1 up to 8 rows, 2 up to 16, 4 up to 32.
  const int n_tiles = params.n <= 8 ? 1 : params.n <= 16 ? 2 : 4;
  if (!int4) {
    switch (n_tiles) {
      case 1: return LaunchMma<T, false, 1, 1>(params, max_blocks, stream);
      case 2: return LaunchMma<T, false, 2, 1>(params, max_blocks, stream);
      default: return LaunchMma<T, false, 4, 1>(params, max_blocks, stream);
    }
  }
  switch (groups_per_tile) {
    case 1:
      switch (n_tiles) {
        case 1: return LaunchMma<T, true, 1, 1>(params, max_blocks, stream);
        case 2: return LaunchMma<T, true, 2, 1>(params, max_blocks, stream);
        default: return LaunchMma<T, true, 4, 1>(params, max_blocks, stream);
      }
    case 2:
      return n_tiles == 1 ? LaunchMma<T, true, 1, 2>(params, max_blocks, stream)
                          : LaunchMma<T, true, 2, 2>(params, max_blocks, stream);
    default:
      return n_tiles == 1 ? LaunchMma<T, true, 1, 4>(params, max_blocks, stream)
                          : LaunchMma<T, true, 2, 4>(params, max_blocks, stream);
  }
}

}  // namespace

size_t QuantizedGemmWorkspaceBytes(int64_t out_features) {
  const int64_t blocks = RowBlocks(std::max<int64_t>(out_features, 1));
  const size_t partial = static_cast<size_t>(blocks * kBlockRows * kWorkspaceTokens) * sizeof(float);
  return partial + ((static_cast<size_t>(blocks) * sizeof(unsigned) + 255) / 256) * 256;
}

bool QuantizedGemmUsesTensorCores(const GemmProblem& p, const QuantizedWeight& w, const void* x) {
  // A kTiles weight is valid only where QuantizedTilesApply.
  return ProblemMatches(p, w) && w.layout == QuantizedLayout::kTiles && Aligned(x, 16) &&
         Aligned(w.values, 16) && Aligned(w.scales, 2);
}

cudaError_t LaunchQuantizedGemm(const GemmProblem& p, const QuantizedWeight& w, const void* x,
                                const void* bias, void* y, void* workspace, size_t workspace_bytes,
                                cudaStream_t stream, const QuantizedGemmOptions& options) {
  if (!ProblemMatches(p, w) || (p.has_bias && bias == nullptr)) return cudaErrorInvalidValue;
  if (p.rows <= 0) return cudaSuccess;
  const bool tensor_cores = QuantizedGemmUsesTensorCores(p, w, x);
  if (tensor_cores && (workspace == nullptr || !Aligned(workspace, 16) ||
                       workspace_bytes < QuantizedGemmWorkspaceBytes(w.out_features))) {
    return cudaErrorInvalidValue;
  }
  const bool int4 = w.format == DType::kI4;
  const size_t x_size = DTypeSize(p.x_dtype), y_size = DTypeSize(p.y_dtype);
  const void* bias_or_null = p.has_bias ? bias : nullptr;
  const int64_t per_launch = RowsPerLaunch(w, tensor_cores);
  for (int64_t done = 0; done < p.rows; done += per_launch) {
    const int n = static_cast<int>(std::min(per_launch, p.rows - done));
    const void* x_rows = static_cast<const uint8_t*>(x) + done * p.in_features * x_size;
    void* y_rows = static_cast<uint8_t*>(y) + done * p.out_features * y_size;
    cudaError_t status = cudaSuccess;
    if (tensor_cores) {
      const QuantizedTiles tiles = TilesOf(w.format, w.out_features, w.in_features, w.group_size);
      MmaParams params{};
      params.tiles = static_cast<const uint8_t*>(w.values);
      params.scales = static_cast<const uint16_t*>(w.scales);
      params.x = x_rows;
      params.bias = bias_or_null;
      params.y = y_rows;
      params.partial = static_cast<float*>(workspace);
      params.counters = reinterpret_cast<unsigned*>(
          static_cast<uint8_t*>(workspace) + static_cast<size_t>(RowBlocks(w.out_features) * kBlockRows *
                                                                  kWorkspaceTokens) * sizeof(float));
      params.m = w.out_features;
      params.k = w.in_features;
      params.tile_bytes = tiles.tile_bytes;
      params.tiles_per_row = tiles.tiles_per_row;
      params.weight_units = tiles.units;
      params.items = RowBlocks(w.out_features) * tiles.tiles_per_row;
      params.n = n;
      params.y_dtype = p.y_dtype;
      params.gelu = p.gelu;
      const int groups_per_tile = static_cast<int>(tiles.groups_per_tile);
      status = p.x_dtype == DType::kBF16
                   ? DispatchMma<__nv_bfloat16>(params, int4, groups_per_tile, options.max_blocks, stream)
                   : DispatchMma<__half>(params, int4, groups_per_tile, options.max_blocks, stream);
    } else {
      const unsigned blocks = static_cast<unsigned>((w.out_features + 7) / 8);
      if (p.x_dtype == DType::kBF16) {
        QuantizedSimtKernel<__nv_bfloat16><<<blocks, 256, 0, stream>>>(
            w, static_cast<const __nv_bfloat16*>(x_rows), bias_or_null, y_rows, p.y_dtype, n, p.gelu);
      } else {
        QuantizedSimtKernel<__half><<<blocks, 256, 0, stream>>>(
            w, static_cast<const __half*>(x_rows), bias_or_null, y_rows, p.y_dtype, n, p.gelu);
      }
      status = cudaGetLastError();
    }
    if (status != cudaSuccess) return status;
  }
  return cudaSuccess;
}

}  // namespace bloom::cuda
