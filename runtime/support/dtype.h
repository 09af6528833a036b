// Element types of checkpoint tensors and plan buffers: how many bits an
// element takes in storage, their safetensors names, and the conversions
// between the floating ones. Conversions to a narrower float round to
// nearest even, as PyTorch's .to() does, so a precision policy can be
// emulated bit-exactly.
//
// Storage is described in bits, not bytes, because int4 puts two elements
// in a byte (packed_int4.h gives the nibble order). A tensor of a sub-byte
// dtype is stored row-major with no padding between rows, and its last
// dimension must fill whole bytes (CheckStorageShape), so every row, and so
// every slice of rows a tensor-parallel rank takes, starts on a byte.
//
// Integer dtypes are never read as floats: the float conversions below
// accept only IsFloatingDType dtypes. Quantized weights (int8/int4 values
// with scales) are dequantized by the code that knows their scales
// (quantized_storage.h), not here.
//
// A new dtype is an enumerator here plus a case in every switch on DType:
// the switches are exhaustive with no default, and the libraries that own
// them build with -Werror=switch, so a missing case does not compile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace bloom {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kI32,
  // Quantized weight values (quantized_storage.h): two's complement
  // integers, int8 one to a byte, int4 ([-8, 7]) two to a byte.
  kI8,
  kI4,
};

// Bits one element takes in storage: 32, 16, 16, 32, 8, 4.
int DTypeBits(DType dtype);

// kF32, kF16 and kBF16: the dtypes that convert to and from float32.
bool IsFloatingDType(DType dtype);

// Narrower than a byte (kI4): several elements share a byte, so there is no
// address of one element and no per-element byte size.
bool IsSubByteDType(DType dtype);

// Bytes per element of a whole-byte dtype; 0 for a sub-byte dtype, which
// has none (use StorageBytes or RowStrideBytes, which are right for all).
size_t DTypeSize(DType dtype);

// Bytes of `elements` values stored back to back: ceil(elements * bits / 8),
// a last byte that is not full padded with zero bits. For a whole-byte dtype
// this is elements * DTypeSize and wraps, as that product does, past 2^64.
uint64_t StorageBytes(DType dtype, uint64_t elements);

// Bytes from one row to the next of a row-major tensor whose rows hold
// `columns` elements: StorageBytes of one row (rows are not padded, so for a
// sub-byte dtype `columns` must fill whole bytes; see CheckStorageShape).
uint64_t RowStrideBytes(DType dtype, int64_t columns);

// A tensor of `shape` can be stored as `dtype` when its dimensions are >= 0
// and, for a sub-byte dtype, its last dimension fills whole bytes (int4: an
// even count; a 0-d int4 tensor is refused). Then its bytes are
// StorageBytes(dtype, elements) == rows * RowStrideBytes(dtype, columns).
// Errors name `what`.
absl::Status CheckStorageShape(DType dtype, absl::Span<const int64_t> shape,
                               absl::string_view what);

// The safetensors spelling: "F32", "F16", "BF16", "I32", "I8", "I4".
// safetensors defines no int4 dtype; the project writes "I4" with the
// tensor's logical shape (elements, not bytes), so the header says what the
// values are and a reader that knows no I4 (the Python safetensors library)
// refuses the file instead of loading packed nibbles as bytes.
std::string_view DTypeName(DType dtype);
// Parses a safetensors dtype string; nullopt for anything else.
std::optional<DType> ParseDTypeName(std::string_view name);

float HalfToFloat(uint16_t bits);
uint16_t FloatToHalf(float value);
float BFloat16ToFloat(uint16_t bits);
uint16_t FloatToBFloat16(float value);

// The three conversions below take a floating `dtype` (IsFloatingDType);
// callers whose dtype comes from a file check it first and return an error
// naming the tensor (tensor_slice.h's CheckReadableAsFloat32). The
// precondition is checked here too, and a violation never reads or writes
// integer bits as floats: what would be float32 output is quiet NaN instead
// (loud in any comparison with a reference), and nothing is written into an
// integer buffer.

// Converts `count` elements of a floating type stored at `src` (unaligned is
// fine) to float32.
void ConvertToFloat32(DType dtype, const void* src, float* dst, size_t count);

// Converts `count` floats to a floating `dtype` at `dst` (unaligned is fine),
// rounding to nearest even.
void ConvertFromFloat32(DType dtype, const float* src, void* dst, size_t count);

// Rounds float32 values in place to the nearest value `dtype` can hold
// (identity for kF32): how the CPU backend keeps a tensor that the plan
// stores in 16 bits in a float32 container without changing its value.
void RoundThroughDType(DType dtype, float* values, size_t count);

}  // namespace bloom
