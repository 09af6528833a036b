#include "kernels/cuda/quantized_gemm.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels/cuda/cuda_dtype.cuh"

namespace bloom::cuda {
namespace {

// The tensor-core path. A block is 8 warps over a row block of 256 rows of
// W; warp w takes the 32-row unit w of it (dequantize.cuh, "The tile
// layout") as two 16-row m-tiles. A unit's tiles (64 bytes a row: 128 int4
// or 64 int8 columns) are one contiguous run of memory; a warp's work on a
// tile is that tile's block, four 512-byte loads (16 bytes a lane) plus
// int4's scales and zero points. Each warp keeps kStages tiles in flight
// in registers and has the L2 fetch QuantizedGemmOptions::prefetch_tiles
// ahead (one bulk prefetch a tile), so DRAM sees long sequential runs and
// a deep queue.
constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kWarpTiles = 2;  // m-tiles of 16 rows per warp
constexpr int64_t kBlockRows = kWarps * kWarpTiles * 16;
constexpr int kStages = 4;
// Partial sums of a row block: [rows][kQuantizedGemmMaxRows] floats, then
// one counter of added tiles per row block.
constexpr int kWorkspaceTokens = static_cast<int>(kQuantizedGemmMaxRows);

int64_t RowBlocks(int64_t m) { return (m + kBlockRows - 1) / kBlockRows; }

// x's columns a block stages in shared memory at a time, as 16-byte pieces
// of 8 values, per token row; the row stride is padded so that the 128-bit
// reads of a quarter warp (two tokens, four lanes) hit eight different bank
// groups: by 4 pieces for int4 (its lanes read pieces 4j + c), 1 for int8
// (2c + j).
template <int NT>
constexpr int kChunkColumns = NT == 1 ? 2048 : 1024;
template <bool kInt4, int NT>
constexpr int kStagedStride = kChunkColumns<NT> / 8 + (kInt4 ? 4 : 1);

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
  int64_t prefetch_tiles;  // how far ahead of its loads a warp has the L2 fetch (> kStages to matter)
  int n;
  DType y_dtype;
  bool gelu;
};

template <typename T>
__device__ __forceinline__ void Mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void Mma<__nv_bfloat16>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                                   uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void Mma<__half>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                            uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// a - b on two 16-bit floats packed in a word (exact here: small integers).
template <typename T>
__device__ __forceinline__ uint32_t Sub2(uint32_t a, uint32_t b) {
  using T2 = std::conditional_t<std::is_same_v<T, __half>, __half2, __nv_bfloat162>;
  T2 x, y;
  memcpy(&x, &a, 4);
  memcpy(&y, &b, 4);
  const T2 r = __hsub2(x, y);
  uint32_t out;
  memcpy(&out, &r, 4);
  return out;
}

// A 16-bit float whose low mantissa bits are an integer u: 128 + u in bf16
// (7 mantissa bits), 1024 + u in f16 (10), for u in [0, 16).
template <typename T>
constexpr uint32_t kMagic = std::is_same_v<T, __half> ? 0x6400u : 0x4300u;

// Two int4 tile values (nibbles s and s + 4 of the word after the shift;
// see "The tile layout") as 16-bit floats magic + u.
template <typename T>
__device__ __forceinline__ uint32_t Int4Pair(uint32_t word, int shift) {
  return ((word >> shift) & 0x000F000Fu) | (kMagic<T> * 0x00010001u);
}

// Bytes b and b + 1 of an int8 word whose bytes were offset by 128 (u = q +
// 128) as the two 16-bit floats q.
template <typename T>
__device__ __forceinline__ uint32_t Int8Pair(uint32_t offset_word, int b) {
  if constexpr (std::is_same_v<T, __half>) {
    // 1024 + u exactly in f16, then minus 1152.
    const uint32_t h = __byte_perm(offset_word, 0x64646464u, b == 0 ? 0x4140 : 0x4342);
    return Sub2<__half>(h, 0x64806480u);
  } else {
    // bf16 has too few mantissa bits for 128 + u with u up to 255: go
    // through fp32, 2^23 + u exactly, then round (exactly) to bf16.
    const float lo = __uint_as_float(__byte_perm(offset_word, 0x4B000000u, 0x7650 | b)) - 8388736.0f;
    const float hi = __uint_as_float(__byte_perm(offset_word, 0x4B000000u, 0x7650 | (b + 1))) - 8388736.0f;
    const __nv_bfloat162 r = __floats2bfloat162_rn(lo, hi);
    uint32_t out;
    memcpy(&out, &r, 4);
    return out;
  }
}

__device__ __forceinline__ uint32_t WordOf(const uint4& v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

// One tile of a warp's two m-tiles in flight: the values of rows g and
// g + 8 of each (lane g * 4 + c), and for int4 the lane's share of the
// tile's scales and zero points: lane c of a quad loads the scale of row g
// (c = 0) or g + 8 (1), or the zero point of row g (2) or g + 8 (3), for
// the tile's GPT groups; shuffles hand them round when the tile is used.
template <int GPT>
struct Stage {
  uint4 w[kWarpTiles][2];
  std::conditional_t<GPT == 4, uint2, uint32_t> sz[kWarpTiles];
};

// Loads one tile of the warp's unit from its block.
template <bool kInt4, int GPT>
__device__ __forceinline__ void LoadStage(Stage<GPT>& s, const uint8_t* block, int lane) {
#pragma unroll
  for (int w = 0; w < kWarpTiles; ++w) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      s.w[w][h] = __ldcs(reinterpret_cast<const uint4*>(block + ((2 * w + h) * 32 + lane) * 16));
    }
  }
  if constexpr (kInt4) {
    const int c = lane % 4, g = lane / 4;
    const uint8_t* scales = block + kTileValueBytes;
    const uint8_t* zeros = scales + 64 * GPT;
#pragma unroll
    for (int w = 0; w < kWarpTiles; ++w) {
      const int r = 16 * w + 8 * (c % 2) + g;
      if (c < 2) {
        if constexpr (GPT == 4) s.sz[w] = __ldg(reinterpret_cast<const uint2*>(scales + 8 * r));
        else if constexpr (GPT == 2) s.sz[w] = __ldg(reinterpret_cast<const uint32_t*>(scales + 4 * r));
        else s.sz[w] = __ldg(reinterpret_cast<const uint16_t*>(scales + 2 * r));
      } else {
        if constexpr (GPT == 4) s.sz[w].x = __ldg(reinterpret_cast<const uint32_t*>(zeros + 4 * r));
        else if constexpr (GPT == 2) s.sz[w] = __ldg(reinterpret_cast<const uint16_t*>(zeros + 2 * r));
        else s.sz[w] = __ldg(zeros + r);
      }
    }
  }
}

// Has the L2 fetch `bytes` from `p` (16-byte aligned, a multiple of 16).
__device__ __forceinline__ void PrefetchL2(const void* p, int64_t bytes) {
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(p), "r"(static_cast<unsigned>(bytes))
               : "memory");
}

// The 16 bits of group `gi` (of the tile's GPT) in a lane's scale share.
template <int GPT>
__device__ __forceinline__ uint32_t ScaleBits(const std::conditional_t<GPT == 4, uint2, uint32_t>& v, int gi) {
  if constexpr (GPT == 4) return ((gi < 2 ? v.x : v.y) >> (16 * (gi % 2))) & 0xFFFFu;
  else return (v >> (16 * gi)) & 0xFFFFu;
}
template <int GPT>
__device__ __forceinline__ uint32_t ZeroBits(const std::conditional_t<GPT == 4, uint2, uint32_t>& v, int gi) {
  if constexpr (GPT == 4) return (v.x >> (8 * gi)) & 0xFFu;
  else return (v >> (8 * gi)) & 0xFFu;
}

template <int GPT>
__device__ __forceinline__ std::conditional_t<GPT == 4, uint2, uint32_t> ShuffleFrom(
    const std::conditional_t<GPT == 4, uint2, uint32_t>& v, int src) {
  if constexpr (GPT == 4) {
    return make_uint2(__shfl_sync(0xffffffffu, v.x, src), __shfl_sync(0xffffffffu, v.y, src));
  } else {
    return __shfl_sync(0xffffffffu, v, src);
  }
}

// Multiplies the warp's tile `s` (tile `tile` of the staged chunk) into acc.
template <typename T, bool kInt4, int NT, int GPT>
__device__ __forceinline__ void ComputeStage(const Stage<GPT>& s, const uint4* staged, int tile,
                                             int lane, float (&acc)[kWarpTiles][NT][4]) {
  constexpr int S = kStagedStride<kInt4, NT>;
  const int g = lane / 4, c = lane % 4;
  if constexpr (kInt4) {
    // Each group's scale and magic + zero for rows g and g + 8.
    std::conditional_t<GPT == 4, uint2, uint32_t> share[kWarpTiles][4];
#pragma unroll
    for (int w = 0; w < kWarpTiles; ++w) {
#pragma unroll
      for (int i = 0; i < 4; ++i) share[w][i] = ShuffleFrom<GPT>(s.sz[w], (lane & ~3) | i);
    }
    float scale[kWarpTiles][2];
    uint32_t zero[kWarpTiles][2];
    float part[kWarpTiles][NT][4];
    constexpr int kPairsPerGroup = 4 / GPT;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      if (j % kPairsPerGroup == 0) {
        const int gi = j / kPairsPerGroup;
#pragma unroll
        for (int w = 0; w < kWarpTiles; ++w) {
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            scale[w][h] = __half2float(__ushort_as_half(static_cast<unsigned short>(ScaleBits<GPT>(share[w][h], gi))));
            const int z = static_cast<int8_t>(ZeroBits<GPT>(share[w][2 + h], gi)) + 8;
            zero[w][h] = (kMagic<T> + z) * 0x00010001u;
          }
#pragma unroll
          for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
            for (int e = 0; e < 4; ++e) part[w][nt][e] = 0.0f;
          }
        }
      }
      uint4 xv[NT];
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) xv[nt] = staged[(nt * 8 + g) * S + tile * 16 + 4 * j + c];
#pragma unroll
      for (int w = 0; w < kWarpTiles; ++w) {
        const uint32_t top = WordOf(s.w[w][0], j), bottom = WordOf(s.w[w][1], j);
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const uint32_t a[4] = {Sub2<T>(Int4Pair<T>(top, 8 * h), zero[w][0]),
                                 Sub2<T>(Int4Pair<T>(bottom, 8 * h), zero[w][1]),
                                 Sub2<T>(Int4Pair<T>(top, 8 * h + 4), zero[w][0]),
                                 Sub2<T>(Int4Pair<T>(bottom, 8 * h + 4), zero[w][1])};
#pragma unroll
          for (int nt = 0; nt < NT; ++nt) {
            Mma<T>(part[w][nt], a, WordOf(xv[nt], 2 * h), WordOf(xv[nt], 2 * h + 1));
          }
        }
      }
      if (j % kPairsPerGroup == kPairsPerGroup - 1) {
#pragma unroll
        for (int w = 0; w < kWarpTiles; ++w) {
#pragma unroll
          for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[w][nt][e] = fmaf(scale[w][e / 2], part[w][nt][e], acc[w][nt][e]);
          }
        }
      }
    }
  } else {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      uint4 xv[NT];
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) xv[nt] = staged[(nt * 8 + g) * S + tile * 8 + 2 * c + j / 2];
#pragma unroll
      for (int w = 0; w < kWarpTiles; ++w) {
        const uint32_t top = WordOf(s.w[w][0], j) ^ 0x80808080u;
        const uint32_t bottom = WordOf(s.w[w][1], j) ^ 0x80808080u;
        const uint32_t a[4] = {Int8Pair<T>(top, 0), Int8Pair<T>(bottom, 0), Int8Pair<T>(top, 2),
                               Int8Pair<T>(bottom, 2)};
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          Mma<T>(acc[w][nt], a, WordOf(xv[nt], 2 * (j % 2)), WordOf(xv[nt], 2 * (j % 2) + 1));
        }
      }
    }
  }
}

// The block's run of work items: each stretch inside one row block is a
// segment, its x staged through shared memory in chunks of kChunkColumns.
template <typename T, bool kInt4, int NT, int GPT>
__global__ void __launch_bounds__(kThreads, 1) QuantizedMmaKernel(MmaParams p) {
  constexpr int S = kStagedStride<kInt4, NT>;
  constexpr int kTileColumns = kInt4 ? 128 : 64;
  constexpr int64_t kChunkTiles = kChunkColumns<NT> / kTileColumns;
  __shared__ uint4 staged[8 * NT * S];
  __shared__ int last_block;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
  const int64_t first_item = blockIdx.x * p.items / gridDim.x;
  const int64_t end_item = (blockIdx.x + 1) * p.items / gridDim.x;
  for (int64_t item = first_item; item < end_item;) {
    const int64_t row_block = item / p.tiles_per_row, t0 = item % p.tiles_per_row;
    const int64_t t1 = min(p.tiles_per_row, t0 + (end_item - item));
    const int64_t unit = row_block * kWarps + warp;
    const int64_t warp_row = unit * kTileUnitRows;
    const bool active = unit < p.weight_units;  // else the warp only keeps the barriers
    const uint8_t* unit_tiles = p.tiles + unit * p.tiles_per_row * p.tile_bytes;
    float acc[kWarpTiles][NT][4];
#pragma unroll
    for (int w = 0; w < kWarpTiles; ++w) {
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[w][nt][e] = 0.0f;
      }
    }

    // One ring of kStages tiles in flight runs through the whole segment;
    // at each chunk's first tile the block stages that chunk of x while
    // the ring's loads (which need no shared memory) stay in flight.
    Stage<GPT> s0, s1, s2, s3;
    if (active) {
      LoadStage<kInt4, GPT>(s0, unit_tiles + t0 * p.tile_bytes, lane);
      if (t0 + 1 < t1) LoadStage<kInt4, GPT>(s1, unit_tiles + (t0 + 1) * p.tile_bytes, lane);
      if (t0 + 2 < t1) LoadStage<kInt4, GPT>(s2, unit_tiles + (t0 + 2) * p.tile_bytes, lane);
      if (t0 + 3 < t1) LoadStage<kInt4, GPT>(s3, unit_tiles + (t0 + 3) * p.tile_bytes, lane);
      const int64_t ahead = min(t1, t0 + p.prefetch_tiles) - (t0 + kStages);
      if (lane == 0 && ahead > 0) PrefetchL2(unit_tiles + (t0 + kStages) * p.tile_bytes, ahead * p.tile_bytes);
    }
    // Tile t of the segment through stage s; false past the segment. The
    // conditions are the block's, so every thread meets the barriers.
    auto step = [&](Stage<GPT>& s, int64_t t) {
      if (t >= t1) return false;
      const int in_chunk = static_cast<int>((t - t0) % kChunkTiles);
      if (in_chunk == 0) {
        __syncthreads();  // the previous chunk's x is no longer read
        // kPieces (a power of two) bounds the chunk's 16-byte pieces: the index
        // arithmetic stays shifts and masks.
        constexpr int kPieces = kChunkColumns<NT> / 8;
        const int pieces = static_cast<int>((min(t1, t + kChunkTiles) - t) * kTileColumns / 8);
        const T* x = static_cast<const T*>(p.x) + t * kTileColumns;
        for (int i = threadIdx.x; i < 8 * NT * kPieces; i += kThreads) {
          const int token = i / kPieces, piece = i % kPieces;
          if (piece >= pieces) continue;
          const bool inside = token < p.n;
          const T* source = inside ? x + token * p.k + piece * 8 : static_cast<const T*>(p.x);
          const unsigned target = static_cast<unsigned>(__cvta_generic_to_shared(&staged[token * S + piece]));
          // Rows past N are zero-filled: their columns of the products are
          // zero and never stored.
          asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(target), "l"(source),
                       "r"(inside ? 16 : 0));
        }
        asm volatile("cp.async.commit_group;\ncp.async.wait_group 0;\n" ::: "memory");
        __syncthreads();
      }
      if (active) {
        ComputeStage<T, kInt4, NT, GPT>(s, staged, in_chunk, lane, acc);
        if (t + kStages < t1) LoadStage<kInt4, GPT>(s, unit_tiles + (t + kStages) * p.tile_bytes, lane);
        if (lane == 0 && p.prefetch_tiles > kStages && t + p.prefetch_tiles < t1) {
          PrefetchL2(unit_tiles + (t + p.prefetch_tiles) * p.tile_bytes, p.tile_bytes);
        }
      }
      return true;
    };
    static_assert(kStages == 4, "the ring is written out for four stages");
    for (int64_t t = t0; t < t1; t += kStages) {
      if (!step(s0, t) || !step(s1, t + 1) || !step(s2, t + 2) || !step(s3, t + 3)) break;
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
  int device = 0, sms = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
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

template <typename T>
cudaError_t DispatchMma(const MmaParams& params, bool int4, int groups_per_tile, int64_t max_blocks,
                        cudaStream_t stream) {
  const bool one_tile = params.n <= 8;
  if (!int4) {
    return one_tile ? LaunchMma<T, false, 1, 1>(params, max_blocks, stream)
                    : LaunchMma<T, false, 2, 1>(params, max_blocks, stream);
  }
  switch (groups_per_tile) {
    case 1:
      return one_tile ? LaunchMma<T, true, 1, 1>(params, max_blocks, stream)
                      : LaunchMma<T, true, 2, 1>(params, max_blocks, stream);
    case 2:
      return one_tile ? LaunchMma<T, true, 1, 2>(params, max_blocks, stream)
                      : LaunchMma<T, true, 2, 2>(params, max_blocks, stream);
    default:
      return one_tile ? LaunchMma<T, true, 1, 4>(params, max_blocks, stream)
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
  for (int64_t done = 0; done < p.rows; done += kQuantizedGemmMaxRows) {
    const int n = static_cast<int>(std::min(kQuantizedGemmMaxRows, p.rows - done));
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
      params.prefetch_tiles = options.prefetch_tiles;
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
