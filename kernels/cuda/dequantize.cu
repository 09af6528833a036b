#include "kernels/cuda/dequantize.cuh"

#include <cuda_bf16.h>

#include <type_traits>

#include "kernels/cuda/cuda_dtype.cuh"

namespace bloom::cuda {
namespace {

constexpr int kThreads = 256;

// Word column o (0-7) goes to nibble Int4TileNibble(o), stored with the
// offset of 8 that makes it unsigned.
__device__ __forceinline__ uint32_t TileWord(uint32_t row_major_word) {
  uint32_t out = 0;
#pragma unroll
  for (int o = 0; o < 8; ++o) {
    const uint32_t nibble = ((row_major_word >> (4 * o)) & 0xFu) ^ 0x8u;
    out |= nibble << (4 * Int4TileNibble(o));
  }
  return out;
}

// Thread i writes 16-byte value piece i (then, for int4, scale and zero
// entry i) of the tile buffer: see "The tile layout" in dequantize.cuh.
__global__ void RepackTilesKernel(QuantizedWeight w, QuantizedTiles t, uint8_t* out) {
  const bool int4 = w.format == DType::kI4;
  const int64_t blocks = t.units * t.tiles_per_row, row_bytes = int4 ? w.in_features / 2 : w.in_features;
  const uint8_t* in = static_cast<const uint8_t*>(w.values);
  const int64_t first = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = first; i < blocks * 128; i += stride) {
    const int64_t block = i / 128, unit = block / t.tiles_per_row, tile = block % t.tiles_per_row;
    const int p = static_cast<int>(i % 128), c = p % 4;
    const int64_t row = unit * kTileUnitRows + (p / 32) * 8 + (p % 32) / 4;
    uint4 piece = make_uint4(0, 0, 0, 0);
    if (row < w.out_features) {
      const uint8_t* segment = in + row * row_bytes + tile * 64;  // the row's 64 bytes of the tile
      if (!int4) {
        piece = *reinterpret_cast<const uint4*>(segment + 16 * c);
      } else {
        const uint32_t* words = reinterpret_cast<const uint32_t*>(segment);  // word L: columns 8L..8L+7
        piece = make_uint4(TileWord(words[c]), TileWord(words[4 + c]), TileWord(words[8 + c]),
                           TileWord(words[12 + c]));
      }
    }
    *reinterpret_cast<uint4*>(out + block * t.tile_bytes + p * 16) = piece;
  }
  if (!int4) return;
  const int64_t per_block = kTileUnitRows * t.groups_per_tile, g = ResolvedGroup(w);
  const int64_t groups = w.in_features / g;
  for (int64_t i = first; i < blocks * per_block; i += stride) {
    const int64_t block = i / per_block, e = i % per_block;
    const int64_t unit = block / t.tiles_per_row, tile = block % t.tiles_per_row;
    const int64_t row = unit * kTileUnitRows + e / t.groups_per_tile;
    const int64_t group = tile * t.columns / g + e % t.groups_per_tile;
    __half scale = __float2half(0.0f);
    int8_t zero = 0;
    if (row < w.out_features) {
      scale = static_cast<const __half*>(w.scales)[row * groups + group];
      if (w.zero_points != nullptr) zero = w.zero_points[row * groups + group];
    }
    uint8_t* tile_base = out + block * t.tile_bytes + kTileValueBytes;
    reinterpret_cast<__half*>(tile_base)[e] = scale;
    reinterpret_cast<int8_t*>(tile_base + 2 * per_block)[e] = zero;
  }
}

// Eight consecutive values w'[row][k .. k + 8) (K % 8 == 0, k % 8 == 0):
// one load of the values, and one of the scale and zero point when the
// eight share a group.
__device__ __forceinline__ void Dequantize8(const QuantizedWeight& w, int64_t row, int64_t k,
                                            float (&out)[8]) {
  int q[8];
  const uint8_t* bytes = static_cast<const uint8_t*>(w.values);
  if (w.layout == QuantizedLayout::kTiles) {
    const QuantizedTiles t = TilesOf(w.format, w.out_features, w.in_features, w.group_size);
    if (w.format == DType::kI4) {
      // The eight are one word and share a group (g >= 32).
      const uint32_t v = __ldg(reinterpret_cast<const uint32_t*>(bytes + TileValueByte(t, row, k)));
      const float scale =
          __half2float(__ldg(reinterpret_cast<const __half*>(bytes + TileScaleByte(t, row, k))));
      const int zero = __ldg(reinterpret_cast<const int8_t*>(bytes + TileZeroByte(t, row, k)));
#pragma unroll
      for (int o = 0; o < 8; ++o) {
        out[o] = scale * static_cast<float>(static_cast<int>((v >> (4 * Int4TileNibble(o))) & 0xFu) - 8 - zero);
      }
      return;
    }
    const uint2 v = __ldg(reinterpret_cast<const uint2*>(bytes + TileValueByte(t, row, k)));
#pragma unroll
    for (int o = 0; o < 8; ++o) q[o] = static_cast<int8_t>(((o < 4 ? v.x : v.y) >> (8 * (o % 4))) & 0xFFu);
  } else if (w.format == DType::kI8) {
    const uint2 v = __ldg(reinterpret_cast<const uint2*>(bytes + row * w.in_features + k));
#pragma unroll
    for (int o = 0; o < 8; ++o) q[o] = static_cast<int8_t>(((o < 4 ? v.x : v.y) >> (8 * (o % 4))) & 0xFFu);
  } else {
    const uint32_t v = __ldg(reinterpret_cast<const uint32_t*>(bytes + (row * w.in_features + k) / 2));
#pragma unroll
    for (int o = 0; o < 8; ++o) q[o] = static_cast<int>(((v >> (4 * o)) & 0xFu) ^ 0x8u) - 8;
  }
  // Row-major scales (int8 keeps them in the tile layout too).
  const int64_t g = ResolvedGroup(w), groups = w.in_features / g;
  const __half* scales = static_cast<const __half*>(w.scales);
  const int8_t* zeros = w.layout == QuantizedLayout::kRowMajor ? w.zero_points : nullptr;
  if (g % 8 == 0) {
    const int64_t group = row * groups + k / g;
    const float scale = __half2float(__ldg(scales + group));
    const int zero = zeros != nullptr ? __ldg(zeros + group) : 0;
#pragma unroll
    for (int o = 0; o < 8; ++o) out[o] = scale * static_cast<float>(q[o] - zero);
  } else {
#pragma unroll
    for (int o = 0; o < 8; ++o) {
      const int64_t group = row * groups + (k + o) / g;
      const int zero = zeros != nullptr ? __ldg(zeros + group) : 0;
      out[o] = __half2float(__ldg(scales + group)) * static_cast<float>(q[o] - zero);
    }
  }
}

// Eight floats stored as Out at out[i .. i + 8) (16- or 32-byte aligned).
template <typename Out>
__device__ __forceinline__ void Store8(Out* out, int64_t i, const float (&v)[8]) {
  if constexpr (sizeof(Out) == 4) {
    reinterpret_cast<float4*>(out + i)[0] = make_float4(v[0], v[1], v[2], v[3]);
    reinterpret_cast<float4*>(out + i)[1] = make_float4(v[4], v[5], v[6], v[7]);
  } else {
    Out packed[8];
#pragma unroll
    for (int o = 0; o < 8; ++o) packed[o] = FromFloat<Out>(v[o]);
    *reinterpret_cast<uint4*>(out + i) = *reinterpret_cast<const uint4*>(packed);
  }
}

// Rows [0, rows) of w' into out[rows, K]; `source_row(r)` says which row of
// the weight output row r takes (-1: a zero row).
template <typename Out, typename SourceRow>
__device__ __forceinline__ void DequantizeRows(const QuantizedWeight& w, Out* out, int64_t rows,
                                               int64_t first, int64_t stride,
                                               const SourceRow& source_row) {
  const int64_t k_dim = w.in_features;
  if (k_dim % 8 == 0) {
    const int64_t chunks = rows * (k_dim / 8);
    for (int64_t i = first; i < chunks; i += stride) {
      const int64_t r = i / (k_dim / 8), k = (i % (k_dim / 8)) * 8;
      const int64_t row = source_row(r);
      float v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      if (row >= 0) Dequantize8(w, row, k, v);
      Store8(out, r * k_dim + k, v);
    }
    return;
  }
  for (int64_t i = first; i < rows * k_dim; i += stride) {
    const int64_t r = i / k_dim, k = i % k_dim, row = source_row(r);
    out[i] = FromFloat<Out>(row >= 0 ? DequantizedAt(w, row, k) : 0.0f);
  }
}

// The tile layout's fast path: one warp a tile block (a 32-row unit's 128
// int4 or 64 int8 columns), its 2 KB read as four 512-byte loads, each
// lane then writing whole 16-byte pieces of its rows. Rows below
// first_row or past first_row + rows (and the unit's padding rows) are
// skipped; out is [rows, K].
template <typename Out, bool kInt4>
__global__ void __launch_bounds__(kThreads) DequantizeTilesKernel(QuantizedWeight w, QuantizedTiles t,
                                                                   int64_t first_unit, int64_t blocks,
                                                                   int64_t first_row, int64_t rows, Out* out) {
  const int lane = threadIdx.x % 32, c = lane % 4;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (kThreads / 32);
  const uint8_t* values = static_cast<const uint8_t*>(w.values);
  const int64_t k_dim = w.in_features;
  for (int64_t b = blockIdx.x * static_cast<int64_t>(kThreads / 32) + threadIdx.x / 32; b < blocks; b += warps) {
    const int64_t unit = first_unit + b / t.tiles_per_row, tile = b % t.tiles_per_row;
    const uint8_t* block = values + (unit * t.tiles_per_row + tile) * t.tile_bytes;
#pragma unroll
    for (int h = 0; h < 4; ++h) {
      const int r = 8 * h + lane / 4;  // piece 32h + lane: row r of the unit, quarter c
      const int64_t row = unit * kTileUnitRows + r, out_row = row - first_row;
      const uint4 piece = __ldcs(reinterpret_cast<const uint4*>(block) + 32 * h + lane);
      if (row >= w.out_features || out_row < 0 || out_row >= rows) continue;
      Out* dst = out + out_row * k_dim + tile * t.columns;
      if constexpr (kInt4) {
        const int64_t group_columns = t.columns / t.groups_per_tile;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const int column = 32 * j + 8 * c;
          const int64_t gi = r * t.groups_per_tile + column / group_columns;
          const float scale = __half2float(__ldg(reinterpret_cast<const __half*>(block + kTileValueBytes) + gi));
          const int zero = __ldg(reinterpret_cast<const int8_t*>(block + kTileValueBytes + 64 * t.groups_per_tile) + gi);
          const uint32_t word = j == 0 ? piece.x : j == 1 ? piece.y : j == 2 ? piece.z : piece.w;
          float v[8];
#pragma unroll
          for (int o = 0; o < 8; ++o) {
            v[o] = scale * static_cast<float>(static_cast<int>((word >> (4 * Int4TileNibble(o))) & 0xFu) - 8 - zero);
          }
          Store8(dst, column, v);
        }
      } else {
        const float scale = __half2float(__ldg(static_cast<const __half*>(w.scales) + row));
        const uint32_t words[4] = {piece.x, piece.y, piece.z, piece.w};
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          float v[8];
#pragma unroll
          for (int o = 0; o < 8; ++o) {
            v[o] = scale * static_cast<float>(static_cast<int8_t>((words[2 * half + o / 4] >> (8 * (o % 4))) & 0xFFu));
          }
          Store8(dst, 16 * c + 8 * half, v);
        }
      }
    }
  }
}

template <typename Out>
__global__ void DequantizeWeightKernel(QuantizedWeight w, int64_t first_row, int64_t rows, Out* out) {
  DequantizeRows(w, out, rows, blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x,
                 static_cast<int64_t>(gridDim.x) * blockDim.x, [first_row](int64_t r) { return first_row + r; });
}

// One block per token.
template <typename Out>
__global__ void QuantizedEmbeddingGatherKernel(const int32_t* token_ids, QuantizedWeight table,
                                               int64_t vocab_begin, Out* out) {
  const int64_t t = blockIdx.x;
  const int64_t row = static_cast<int64_t>(token_ids[t]) - vocab_begin;
  const int64_t source = row >= 0 && row < table.out_features ? row : -1;
  DequantizeRows(table, out + t * table.in_features, 1, threadIdx.x, blockDim.x,
                 [source](int64_t) { return source; });
}

template <typename Launch>
cudaError_t ForOutput(DType out_dtype, const Launch& launch) {
  switch (out_dtype) {
    case DType::kF32: return launch(static_cast<float*>(nullptr));
    case DType::kF16: return launch(static_cast<__half*>(nullptr));
    case DType::kBF16: return launch(static_cast<__nv_bfloat16*>(nullptr));
    case DType::kI32:
    case DType::kI8:
    case DType::kI4: break;
  }
  return cudaErrorInvalidValue;
}

bool Aligned(const void* p, uintptr_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// The vector paths load 4 or 8 bytes of values and store 16 or 32 bytes of
// output at a time.
bool VectorAligned(const QuantizedWeight& w, const void* out) {
  return w.in_features % 8 != 0 || (Aligned(w.values, 8) && Aligned(out, 16));
}

}  // namespace

bool QuantizedTilesApply(DType format, int64_t m, int64_t k, int64_t group_size, bool zero_points) {
  if (m < 1 || k < 1 || group_size < 0) return false;
  const int64_t g = group_size > 0 ? group_size : k;
  if (k % g != 0) return false;
  if (format == DType::kI8) return k % 64 == 0 && g == k && !zero_points;
  if (format != DType::kI4) return false;
  return k % 128 == 0 && (g % 128 == 0 || g == 64 || g == 32);
}

size_t QuantizedTilesBytes(DType format, int64_t m, int64_t k, int64_t group_size) {
  const QuantizedTiles t = TilesOf(format, m, k, group_size);
  return static_cast<size_t>(t.units * t.tiles_per_row * t.tile_bytes);
}

QuantizedWeight TiledView(const QuantizedWeight& row_major, const void* tiles) {
  QuantizedWeight view = row_major;
  view.layout = QuantizedLayout::kTiles;
  view.values = tiles;
  if (view.format == DType::kI4) {
    view.scales = tiles;  // inside the tiles; not null, so the view is valid
    view.zero_points = nullptr;
  }
  return view;
}

bool QuantizedWeightValid(const QuantizedWeight& w) {
  if (w.format != DType::kI8 && w.format != DType::kI4) return false;
  if (w.out_features < 1 || w.in_features < 1 || w.values == nullptr || w.scales == nullptr)
    return false;
  const int64_t g = w.group_size > 0 ? w.group_size : w.in_features;
  if (w.group_size < 0 || w.in_features % g != 0) return false;
  if (w.format == DType::kI4 && g % 2 != 0) return false;
  if (w.layout == QuantizedLayout::kRowMajor) return true;
  return QuantizedTilesApply(w.format, w.out_features, w.in_features, w.group_size,
                             w.format == DType::kI8 && w.zero_points != nullptr);
}

cudaError_t LaunchRepackQuantizedTiles(const QuantizedWeight& w, void* tiles, cudaStream_t stream) {
  if (!QuantizedWeightValid(w) || w.layout != QuantizedLayout::kRowMajor ||
      !QuantizedTilesApply(w.format, w.out_features, w.in_features, w.group_size,
                           w.zero_points != nullptr && w.format == DType::kI8) ||
      !Aligned(w.values, 16) || !Aligned(tiles, 16)) {
    return cudaErrorInvalidValue;
  }
  const QuantizedTiles t = TilesOf(w.format, w.out_features, w.in_features, w.group_size);
  const int64_t count = t.units * t.tiles_per_row * 128;
  RepackTilesKernel<<<GridFor(count, kThreads), kThreads, 0, stream>>>(w, t, static_cast<uint8_t*>(tiles));
  return cudaGetLastError();
}

cudaError_t LaunchDequantizeWeight(const QuantizedWeight& w, void* out, DType out_dtype,
                                   cudaStream_t stream) {
  return LaunchDequantizeRows(w, 0, w.out_features, out, out_dtype, stream);
}

cudaError_t LaunchDequantizeRows(const QuantizedWeight& w, int64_t first_row, int64_t rows, void* out,
                                 DType out_dtype, cudaStream_t stream) {
  if (!QuantizedWeightValid(w) || !VectorAligned(w, out) || first_row < 0 || rows < 0 ||
      first_row + rows > w.out_features) {
    return cudaErrorInvalidValue;
  }
  if (rows == 0) return cudaSuccess;
  const bool tiles = w.layout == QuantizedLayout::kTiles && first_row % kTileUnitRows == 0 && Aligned(out, 16);
  return ForOutput(out_dtype, [&](auto* typed) {
    using Out = std::remove_pointer_t<decltype(typed)>;
    if (tiles) {
      const QuantizedTiles t = TilesOf(w.format, w.out_features, w.in_features, w.group_size);
      const int64_t first_unit = first_row / kTileUnitRows;
      const int64_t units = (first_row + rows + kTileUnitRows - 1) / kTileUnitRows - first_unit;
      const int64_t blocks = units * t.tiles_per_row;
      const unsigned grid = GridFor(blocks * 32, kThreads);
      if (w.format == DType::kI4) {
        DequantizeTilesKernel<Out, true><<<grid, kThreads, 0, stream>>>(w, t, first_unit, blocks, first_row, rows,
                                                                        static_cast<Out*>(out));
      } else {
        DequantizeTilesKernel<Out, false><<<grid, kThreads, 0, stream>>>(w, t, first_unit, blocks, first_row, rows,
                                                                         static_cast<Out*>(out));
      }
      return cudaGetLastError();
    }
    const int64_t work = rows * (w.in_features % 8 == 0 ? w.in_features / 8 : w.in_features);
    DequantizeWeightKernel<Out><<<GridFor(work, kThreads), kThreads, 0, stream>>>(w, first_row, rows,
                                                                                  static_cast<Out*>(out));
    return cudaGetLastError();
  });
}

cudaError_t LaunchQuantizedEmbeddingGather(const int32_t* token_ids, int64_t num_tokens,
                                           const QuantizedWeight& table, int64_t vocab_begin,
                                           void* out, DType out_dtype, cudaStream_t stream) {
  if (!QuantizedWeightValid(table) || !VectorAligned(table, out)) return cudaErrorInvalidValue;
  if (num_tokens <= 0) return cudaSuccess;
  if (num_tokens > 0x7fffffff) return cudaErrorInvalidValue;
  return ForOutput(out_dtype, [&](auto* typed) {
    using Out = std::remove_pointer_t<decltype(typed)>;
    QuantizedEmbeddingGatherKernel<Out><<<static_cast<unsigned>(num_tokens), kThreads, 0, stream>>>(
        token_ids, table, vocab_begin, static_cast<Out*>(out));
    return cudaGetLastError();
  });
}

}  // namespace bloom::cuda
