// How DType::kI4 values sit in bytes. Element i of a run is in byte i / 2:
// even i in the low nibble (bits 0-3), odd i in the high nibble (bits 4-7),
// each a 4-bit two's complement value in [-8, 7]. An odd count leaves the
// last byte's high nibble 0.
//
// Low nibble first makes the bytes a little-endian bit stream: element i
// starts at bit 4 * i, as int8 element i starts at bit 8 * i, so the same
// "bit offset = index * DTypeBits" rule addresses every dtype, and a
// kernel widening a 32-bit load gets elements 0..7 from shifts 0, 4, ..., 28
// (the order GPTQ/AutoGPTQ and AWQ pack their int32 words in). Kernels that
// want another order within a tile (Marlin's interleaving) say so as a
// layout of their own; these bytes are the checkpoint's and the CPU's.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace bloom {

inline constexpr int kInt4Min = -8;
inline constexpr int kInt4Max = 7;

// Element `index` of packed int4 `bytes`, sign-extended. No bounds check:
// this is the inner loop of a dequantizing read.
inline int8_t Int4At(const uint8_t* bytes, uint64_t index) {
  const unsigned nibble = (bytes[index / 2] >> (4 * (index % 2))) & 0xFu;
  return static_cast<int8_t>(static_cast<int>(nibble ^ 0x8u) - 8);
}

// Packs `values` (each in [kInt4Min, kInt4Max]) into `packed`, which must
// hold exactly StorageBytes(DType::kI4, values.size()) bytes. Errors name
// the first value out of range, or the size mismatch; `packed` is then
// unspecified.
absl::Status PackInt4(absl::Span<const int8_t> values, absl::Span<uint8_t> packed);

// Unpacks the first values.size() int4 values of `packed`, which must hold
// exactly StorageBytes(DType::kI4, values.size()) bytes.
absl::Status UnpackInt4(absl::Span<const uint8_t> packed, absl::Span<int8_t> values);

}  // namespace bloom
