// Quantized weights on the GPU (docs/quantization.md): the device view of
// one weight, the tile layout the decode product reads (quantized_gemm.cuh)
// and its repack, and two kernels that turn quantized bytes back into
// floats: the whole weight into a scratch matrix (prefill: LinearGemm then
// runs on the scratch) and rows of a quantized embedding table.
//
//   w'[o][i] = float(scale[o][i / g]) * float(q[o][i] - zero[o][i / g])
//
// computed in fp32 (exact: an f16 scale times an integer below 2^8) and
// rounded once to the output dtype.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "runtime/support/dtype.h"

#if defined(__CUDACC__)
#define BLOOM_HOST_DEVICE __host__ __device__
#else
#define BLOOM_HOST_DEVICE
#endif

namespace bloom::cuda {

// How a weight's values sit in device memory.
enum class QuantizedLayout : uint8_t {
  // The checkpoint's bytes: row-major [M, K]; int4 two a byte, element i of
  // a row in byte i / 2, low nibble first, two's complement
  // (runtime/support/packed_int4.h); scales and zero points row-major [M,
  // K / g] beside them.
  kRowMajor,
  // The tensor-core product's own layout (quantized_gemm.cuh), written once
  // at load by LaunchRepackQuantizedTiles into QuantizedTilesBytes: each
  // warp of the product then streams one contiguous run of memory, 16
  // bytes a lane, with the scales and zero points it needs inside it. See
  // "The tile layout" below.
  kTiles,
};

// One quantized weight [M, K] (M = out_features rows, K = in_features) as
// the kernels read it. Row-major: scales f16 [M, K / g]; zero points i8 [M,
// K / g] holding integers in the values' range, or null (symmetric: zero
// 0). int8 has one scale a row (group_size == K) and no zero points in the
// formats bloom-compile writes; the row-major kernels take any group. In
// kTiles, `values` is the tile buffer; an int4 weight's scales and zero
// points are in it (`scales` and `zero_points` are not read), an int8
// weight keeps its row-major scales [M] in `scales`.
struct QuantizedWeight {
  DType format = DType::kI4;  // kI8 or kI4
  QuantizedLayout layout = QuantizedLayout::kRowMajor;
  int64_t out_features = 0;  // M
  int64_t in_features = 0;   // K
  int64_t group_size = 0;    // g: divides K (int4: even); 0 means K
  const void* values = nullptr;
  const void* scales = nullptr;       // f16
  const int8_t* zero_points = nullptr;
};

// The tile layout. Rows go in units of 32 (the last unit padded with
// zero rows), K in tiles of 64 bytes a row: 128 int4 or 64 int8 columns.
// Unit u's tile t is one block at byte (u * tiles_per_row + t) *
// tile_bytes, so a unit's tiles follow each other:
//   - 2048 bytes of values: 16-byte pieces p = 32 * (r / 8) + 4 * (r % 8) +
//     c for unit row r (0-31) and c in [0, 4), i.e. [r / 8][r % 8][c], the
//     order in which lane 4 * (r % 8) + c of an mma.sync warp wants them
//     for the m-tile and half r / 8 (so each of a warp's four 16-byte
//     loads a tile reads 512 contiguous bytes). int8: piece (r, c) is
//     columns [16c, 16c + 16) of the row's tile, as in the row. int4: piece
//     (r, c) is four 32-bit words j = 0..3, word j holding the eight columns
//     32j + 8c + o, o in [0, 8), column o in nibble (o / 2) + 4 (o % 2),
//     stored as q + 8 (in [0, 15]): the order in which each A fragment
//     register of k-steps 2j and 2j + 1 is one shift and one mask away.
//   - int4 only: the tile's scales, f16 [32 rows][groups_per_tile], then its
//     zero points, i8 [32][groups_per_tile] (0 without zero points), where
//     groups_per_tile is 128 / g for g = 32 or 64 and 1 for g % 128 == 0
//     (a group longer than a tile has its scale in each of its tiles).
struct QuantizedTiles {
  int64_t columns = 0;          // of a tile: 128 (int4) or 64 (int8)
  int64_t groups_per_tile = 0;  // int4: 1, 2 or 4; int8: 0
  int64_t tile_bytes = 0;       // 2048 + 96 * groups_per_tile
  int64_t tiles_per_row = 0;    // K / columns
  int64_t units = 0;            // ceil(M / 32)
};
constexpr int64_t kTileUnitRows = 32;
constexpr int64_t kTileValueBytes = 2048;

// Whether a weight can take the tile layout: int8 with K % 64 == 0, one
// scale a row and no zero points; int4 with K % 128 == 0 and g = 32, 64 or
// a multiple of 128.
bool QuantizedTilesApply(DType format, int64_t out_features, int64_t in_features, int64_t group_size,
                         bool zero_points);

// The geometry of the tile layout (valid when QuantizedTilesApply).
BLOOM_HOST_DEVICE inline QuantizedTiles TilesOf(DType format, int64_t out_features,
                                                int64_t in_features, int64_t group_size) {
  QuantizedTiles t;
  const bool int4 = format == DType::kI4;
  const int64_t g = group_size > 0 ? group_size : in_features;
  t.columns = int4 ? 128 : 64;
  t.groups_per_tile = int4 ? (g % 128 == 0 ? 1 : 128 / g) : 0;
  t.tile_bytes = kTileValueBytes + 96 * t.groups_per_tile;
  t.tiles_per_row = in_features / t.columns;
  t.units = (out_features + kTileUnitRows - 1) / kTileUnitRows;
  return t;
}

// Bytes of the tile buffer: units * tiles_per_row * tile_bytes.
size_t QuantizedTilesBytes(DType format, int64_t out_features, int64_t in_features,
                           int64_t group_size);

// The nibble (0-7) of a 32-bit int4 tile word that holds word column o.
BLOOM_HOST_DEVICE inline int Int4TileNibble(int64_t o) {
  return static_cast<int>(o % 8) / 2 + 4 * static_cast<int>(o % 2);
}

// Offsets into the tile buffer: the byte holding w[row][k] (int4: the
// nibble Int4TileNibble(k % 8) % 2 of it, low first), and the f16 scale and
// i8 zero point of its group (int4).
BLOOM_HOST_DEVICE inline int64_t TileBlock(const QuantizedTiles& t, int64_t row, int64_t k) {
  return (row / kTileUnitRows * t.tiles_per_row + k / t.columns) * t.tile_bytes;
}
BLOOM_HOST_DEVICE inline int64_t TileValueByte(const QuantizedTiles& t, int64_t row, int64_t k) {
  const int64_t r = row % kTileUnitRows, col = k % t.columns;
  const bool int4 = t.groups_per_tile > 0;
  const int64_t c = int4 ? (col % 32) / 8 : col / 16;
  const int64_t within = int4 ? 4 * (col / 32) + Int4TileNibble(col) / 2 : col % 16;
  return TileBlock(t, row, k) + (32 * (r / 8) + 4 * (r % 8) + c) * 16 + within;
}
BLOOM_HOST_DEVICE inline int64_t TileGroupIndex(const QuantizedTiles& t, int64_t row, int64_t k) {
  return row % kTileUnitRows * t.groups_per_tile + (k % t.columns) / (t.columns / t.groups_per_tile);
}
BLOOM_HOST_DEVICE inline int64_t TileScaleByte(const QuantizedTiles& t, int64_t row, int64_t k) {
  return TileBlock(t, row, k) + kTileValueBytes + 2 * TileGroupIndex(t, row, k);
}
BLOOM_HOST_DEVICE inline int64_t TileZeroByte(const QuantizedTiles& t, int64_t row, int64_t k) {
  return TileBlock(t, row, k) + kTileValueBytes + 64 * t.groups_per_tile + TileGroupIndex(t, row, k);
}

// Writes `row_major` (a kRowMajor weight for which QuantizedTilesApply) as
// tiles into `tiles`, QuantizedTilesBytes of device memory apart from the
// weight's own (16-byte aligned). Done once, when the weight is loaded;
// afterwards the kTiles view needs only `tiles` (and int8's scales).
cudaError_t LaunchRepackQuantizedTiles(const QuantizedWeight& row_major, void* tiles,
                                       cudaStream_t stream);

// The kTiles view of a weight repacked into `tiles`.
QuantizedWeight TiledView(const QuantizedWeight& row_major, const void* tiles);

// out[M, K] (F32, F16 or BF16) = w'. Any layout and group size.
cudaError_t LaunchDequantizeWeight(const QuantizedWeight& weight, void* out, DType out_dtype,
                                   cudaStream_t stream);

// out[rows, K] = w'[first_row .. first_row + rows), the same values. In the
// tile layout, with first_row a multiple of 32 and out 16-byte aligned, one
// warp reads each 2 KB tile block whole and writes whole 16-byte pieces
// (the copy rate, where the element-wise kernel reached 40% of it).
cudaError_t LaunchDequantizeRows(const QuantizedWeight& weight, int64_t first_row, int64_t rows,
                                 void* out, DType out_dtype, cudaStream_t stream);

// out[t, :] = w'[token_ids[t] - vocab_begin, :] for t in [0, num_tokens), as
// LaunchEmbeddingGather (embedding.cuh) does for a float table: a zero row
// where the id falls outside this table's rows [vocab_begin, vocab_begin +
// M) (a vocab-parallel shard). The table is `table` (M = rows, K = hidden),
// in either layout, so a tied LM head repacked as tiles serves the
// embedding too.
cudaError_t LaunchQuantizedEmbeddingGather(const int32_t* token_ids, int64_t num_tokens,
                                           const QuantizedWeight& table, int64_t vocab_begin,
                                           void* out, DType out_dtype, cudaStream_t stream);

// Whether `weight` is one the kernels here take: int8 or int4 values in a
// layout they can be in, K divisible by the group, f16 scales present.
bool QuantizedWeightValid(const QuantizedWeight& weight);

}  // namespace bloom::cuda

#if defined(__CUDACC__)
#include <cuda_fp16.h>

namespace bloom::cuda {

// Device side, for the kernels of dequantize.cu and quantized_gemm.cu: the
// group size with 0 resolved, and one element of w' in fp32.
BLOOM_HOST_DEVICE inline int64_t ResolvedGroup(const QuantizedWeight& w) {
  return w.group_size > 0 ? w.group_size : w.in_features;
}

// The integer q[row][k] (before the zero point), and w'[row][k].
__device__ __forceinline__ int QuantizedValueAt(const QuantizedWeight& w, int64_t row, int64_t k) {
  const uint8_t* bytes = static_cast<const uint8_t*>(w.values);
  if (w.layout == QuantizedLayout::kTiles) {
    const QuantizedTiles t = TilesOf(w.format, w.out_features, w.in_features, w.group_size);
    const unsigned byte = __ldg(bytes + TileValueByte(t, row, k));
    if (w.format == DType::kI8) return static_cast<int8_t>(byte);
    return static_cast<int>((byte >> (4 * (Int4TileNibble(k) % 2))) & 0xFu) - 8;
  }
  if (w.format == DType::kI8) return static_cast<int8_t>(__ldg(bytes + row * w.in_features + k));
  const int64_t i = row * w.in_features + k;
  const unsigned nibble = (__ldg(bytes + i / 2) >> (4 * (i % 2))) & 0xFu;
  return static_cast<int>(nibble ^ 0x8u) - 8;
}

__device__ __forceinline__ float DequantizedAt(const QuantizedWeight& w, int64_t row, int64_t k) {
  float scale;
  int zero = 0;
  if (w.layout == QuantizedLayout::kTiles && w.format == DType::kI4) {
    const QuantizedTiles t = TilesOf(w.format, w.out_features, w.in_features, w.group_size);
    const uint8_t* bytes = static_cast<const uint8_t*>(w.values);
    scale = __half2float(__ldg(reinterpret_cast<const __half*>(bytes + TileScaleByte(t, row, k))));
    zero = __ldg(reinterpret_cast<const int8_t*>(bytes + TileZeroByte(t, row, k)));
  } else {
    const int64_t g = ResolvedGroup(w), group = row * (w.in_features / g) + k / g;
    scale = __half2float(__ldg(static_cast<const __half*>(w.scales) + group));
    if (w.zero_points != nullptr && w.layout == QuantizedLayout::kRowMajor) zero = __ldg(w.zero_points + group);
  }
  return scale * static_cast<float>(QuantizedValueAt(w, row, k) - zero);
}

}  // namespace bloom::cuda
#endif
