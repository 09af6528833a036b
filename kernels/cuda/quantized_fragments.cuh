// The device pieces of the quantized product (quantized_gemm.cu): the
// mma.sync it runs, the 16-bit A fragments it makes from int4 and int8
// bytes, the cp.async copy that fills its shared-memory ring of tiles, and
// a lane's reading of one tile from its slot.
// Device code only: include from .cu files.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/cuda/dequantize.cuh"

namespace bloom::cuda::quantized_fragments {

// The 16-row m-tiles of mma.sync in one 32-row unit of the tile layout.
constexpr int kUnitMTiles = static_cast<int>(kTileUnitRows) / 16;

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
// see "The tile layout") as 16-bit floats magic + u: one LOP3 ((w & mask) |
// magic), which the compiler otherwise splits into two.
template <typename T>
__device__ __forceinline__ uint32_t Int4Pair(uint32_t word, int shift) {
  uint32_t out;
  asm("lop3.b32 %0, %1, %2, %3, 0xEA;\n"
      : "=r"(out)
      : "r"(word >> shift), "n"(0x000F000Fu), "n"(kMagic<T> * 0x00010001u));
  return out;
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

// An L2 policy that evicts the weight stream first, so x, the partial sums
// and the next kernel's operands stay cached.
__device__ __forceinline__ uint64_t EvictFirstPolicy() {
  uint64_t policy;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(policy));
  return policy;
}

// The warp copies one tile (kBytes, a multiple of 16) from global memory
// into its slot: 16 bytes a lane per cp.async, one commit group a tile.
template <int kBytes>
__device__ __forceinline__ void CopyTile(uint8_t* slot, const uint8_t* tile, int lane, uint64_t policy) {
  constexpr int kPieces = kBytes / 16;
#pragma unroll
  for (int i = 0; i < (kPieces + 31) / 32; ++i) {
    const int piece = 32 * i + lane;
    if (kPieces % 32 == 0 || piece < kPieces) {
      const unsigned target = static_cast<unsigned>(__cvta_generic_to_shared(slot + 16 * piece));
      asm volatile("cp.async.cg.shared.global.L2::cache_hint [%0], [%1], 16, %2;\n" ::"r"(target),
                   "l"(tile + 16 * piece), "l"(policy)
                   : "memory");
    }
  }
}
__device__ __forceinline__ void CommitGroup() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void WaitGroup() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

// The lane's part of one tile of the warp's two m-tiles: the values of
// rows g and g + 8 of each (lane g * 4 + c), and for int4 the scales and
// zero points of those rows, for the tile's GPT groups (quads read the same
// entries: shared-memory broadcasts).
template <int GPT>
using ScaleWord = std::conditional_t<GPT == 4, uint2, uint32_t>;
template <int GPT>
struct Stage {
  uint4 w[kUnitMTiles][2];
  ScaleWord<GPT> scales[kUnitMTiles][2];
  uint32_t zeros[kUnitMTiles][2];
};

// Reads one tile of the warp's unit from its slot of the ring.
template <bool kInt4, int GPT>
__device__ __forceinline__ void LoadStage(Stage<GPT>& s, const uint8_t* block, int lane) {
#pragma unroll
  for (int w = 0; w < kUnitMTiles; ++w) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      s.w[w][h] = *reinterpret_cast<const uint4*>(block + ((2 * w + h) * 32 + lane) * 16);
    }
  }
  if constexpr (kInt4) {
    const uint8_t* scales = block + kTileValueBytes;
    const uint8_t* zeros = scales + 64 * GPT;
#pragma unroll
    for (int w = 0; w < kUnitMTiles; ++w) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int r = 16 * w + 8 * h + lane / 4;
        if constexpr (GPT == 4) {
          s.scales[w][h] = *reinterpret_cast<const uint2*>(scales + 8 * r);
          s.zeros[w][h] = *reinterpret_cast<const uint32_t*>(zeros + 4 * r);
        } else if constexpr (GPT == 2) {
          s.scales[w][h] = *reinterpret_cast<const uint32_t*>(scales + 4 * r);
          s.zeros[w][h] = *reinterpret_cast<const uint16_t*>(zeros + 2 * r);
        } else {
          s.scales[w][h] = *reinterpret_cast<const uint16_t*>(scales + 2 * r);
          s.zeros[w][h] = zeros[r];
        }
      }
    }
  }
}

// Group gi's f16 scale as a float, and its zero point.
template <int GPT>
__device__ __forceinline__ float ScaleOf(const ScaleWord<GPT>& v, int gi) {
  uint32_t bits;
  if constexpr (GPT == 4) bits = ((gi < 2 ? v.x : v.y) >> (16 * (gi % 2))) & 0xFFFFu;
  else bits = (v >> (16 * gi)) & 0xFFFFu;
  return __half2float(__ushort_as_half(static_cast<unsigned short>(bits)));
}
__device__ __forceinline__ int ZeroOf(uint32_t zeros, int gi) {
  return static_cast<int8_t>((zeros >> (8 * gi)) & 0xFFu);
}

}  // namespace bloom::cuda::quantized_fragments
