#include "runtime/support/dtype.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace bloom {
namespace {

// DTypeName as Abseil's string_view (Debian's Abseil has its own type,
// distinct from std's), for StrCat.
absl::string_view NameOf(DType dtype) {
  const std::string_view name = DTypeName(dtype);
  return {name.data(), name.size()};
}

uint32_t FloatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

float BitsToFloat(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

// Shifts `value` right by `shift` (1..31) bits, rounding to nearest with
// ties to even: the one rounding rule behind both narrowing conversions.
uint32_t ShiftRightRoundEven(uint32_t value, unsigned shift) {
  uint32_t quotient = value >> shift;
  uint32_t remainder = value & ((1u << shift) - 1);
  uint32_t half = 1u << (shift - 1);
  if (remainder > half || (remainder == half && (quotient & 1u))) ++quotient;
  return quotient;
}

}  // namespace

int DTypeBits(DType dtype) {
  switch (dtype) {
    case DType::kF32:
    case DType::kI32:
      return 32;
    case DType::kF16:
    case DType::kBF16:
      return 16;
    case DType::kI8:
      return 8;
    case DType::kI4:
      return 4;
  }
  return 0;  // not an enumerator: only a corrupted value gets here
}

bool IsFloatingDType(DType dtype) {
  switch (dtype) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
      return true;
    case DType::kI32:
    case DType::kI8:
    case DType::kI4:
      return false;
  }
  return false;
}

bool IsSubByteDType(DType dtype) { return DTypeBits(dtype) < 8; }

size_t DTypeSize(DType dtype) {
  const int bits = DTypeBits(dtype);
  return bits % 8 == 0 ? static_cast<size_t>(bits / 8) : 0;
}

uint64_t StorageBytes(DType dtype, uint64_t elements) {
  const uint64_t bits = static_cast<uint64_t>(DTypeBits(dtype));
  if (bits == 0) return 0;
  if (bits % 8 == 0) return elements * (bits / 8);
  // Sub-byte: 8 / bits elements to a byte (bits divides 8), rounded up;
  // computed by division so it cannot overflow.
  const uint64_t per_byte = 8 / bits;
  return elements / per_byte + (elements % per_byte != 0 ? 1 : 0);
}

uint64_t RowStrideBytes(DType dtype, int64_t columns) {
  return columns <= 0 ? 0 : StorageBytes(dtype, static_cast<uint64_t>(columns));
}

absl::Status CheckStorageShape(DType dtype, absl::Span<const int64_t> shape,
                               absl::string_view what) {
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": dimension ", i, " is negative (", shape[i], ")"));
    }
  }
  if (!IsSubByteDType(dtype)) return absl::OkStatus();
  const int64_t per_byte = 8 / DTypeBits(dtype);
  if (shape.empty() || shape.back() % per_byte != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", NameOf(dtype), " rows must fill whole bytes (", per_byte,
                     " elements to a byte), so the last dimension must be a multiple of ", per_byte,
                     ", got shape [", absl::StrJoin(shape, ", "), "]"));
  }
  return absl::OkStatus();
}

std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "F32";
    case DType::kF16:
      return "F16";
    case DType::kBF16:
      return "BF16";
    case DType::kI32:
      return "I32";
    case DType::kI8:
      return "I8";
    case DType::kI4:
      return "I4";
  }
  return "?";
}

std::optional<DType> ParseDTypeName(std::string_view name) {
  for (DType dtype :
       {DType::kF32, DType::kF16, DType::kBF16, DType::kI32, DType::kI8, DType::kI4}) {
    if (name == DTypeName(dtype)) return dtype;
  }
  return std::nullopt;
}

float HalfToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1Fu;
  const uint32_t mantissa = bits & 0x3FFu;
  if (exponent == 0x1F) {
    // Inf stays Inf; a NaN keeps its payload (shifted into float's field).
    return BitsToFloat(sign | 0x7F800000u | (mantissa << 13));
  }
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exactly representable in float.
    float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  // Rebias the exponent from 15 to 127.
  return BitsToFloat(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

uint16_t FloatToHalf(float value) {
  const uint32_t bits = FloatBits(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7FFFFFFFu;

  if (magnitude > 0x7F800000u) return sign | 0x7E00u;  // canonical quiet NaN
  // 65520 is halfway between the largest half (65504, odd mantissa) and
  // 2^16, so it and everything above round to infinity.
  if (magnitude >= 0x477FF000u) return sign | 0x7C00u;
  if (magnitude < 0x38800000u) {
    // Below half's smallest normal 2^-14: the result is a subnormal
    // q * 2^-24 (or rounds up to the smallest normal, whose encoding 0x400
    // is what q == 0x400 produces). Float subnormals are far below 2^-25.
    const uint32_t exponent = magnitude >> 23;
    if (exponent == 0) return sign;
    const uint32_t mantissa = (magnitude & 0x7FFFFFu) | 0x800000u;
    // value = mantissa * 2^(exponent-150); in units of 2^-24 that is
    // mantissa * 2^(exponent-126), i.e. a right shift by 126 - exponent.
    const uint32_t shift = 126 - exponent;  // >= 14 here
    if (shift > 24) return sign;            // < 0.5 units: rounds to zero
    return sign | static_cast<uint16_t>(ShiftRightRoundEven(mantissa, shift));
  }
  // Normal: rebias 127 -> 15 and round 23 mantissa bits to 10. A carry out
  // of the mantissa correctly bumps the exponent; it cannot reach 0x7C00
  // because of the overflow test above.
  const uint32_t rebased = magnitude - (112u << 23);
  return sign | static_cast<uint16_t>(ShiftRightRoundEven(rebased, 13));
}

float BFloat16ToFloat(uint16_t bits) { return BitsToFloat(static_cast<uint32_t>(bits) << 16); }

uint16_t FloatToBFloat16(float value) {
  const uint32_t bits = FloatBits(value);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) {
    // A NaN whose payload lives only in the low 16 bits would truncate to
    // Inf; return a quiet NaN with the sign kept.
    return static_cast<uint16_t>((bits >> 16) & 0x8000u) | 0x7FC0u;
  }
  // Same exponent range as float, so rounding the low 16 bits is all there
  // is; overflow of the largest finite values into Inf is the correct result.
  const uint32_t rounding = 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

void ConvertToFloat32(DType dtype, const void* src, float* dst, size_t count) {
  const auto* bytes = static_cast<const uint8_t*>(src);
  switch (dtype) {
    case DType::kF32:
      std::memcpy(dst, bytes, count * sizeof(float));
      return;
    case DType::kF16:
    case DType::kBF16: {
      const bool half = dtype == DType::kF16;
      for (size_t i = 0; i < count; ++i) {
        uint16_t bits;
        std::memcpy(&bits, bytes + 2 * i, sizeof(bits));
        dst[i] = half ? HalfToFloat(bits) : BFloat16ToFloat(bits);
      }
      return;
    }
    case DType::kI32:
    case DType::kI8:
    case DType::kI4:
      // Not a floating type (the caller broke the precondition): NaN, never
      // the integer bits reinterpreted.
      std::fill(dst, dst + count, std::numeric_limits<float>::quiet_NaN());
      return;
  }
}

void ConvertFromFloat32(DType dtype, const float* src, void* dst, size_t count) {
  auto* bytes = static_cast<uint8_t*>(dst);
  switch (dtype) {
    case DType::kF32:
      std::memcpy(bytes, src, count * sizeof(float));
      return;
    case DType::kF16:
    case DType::kBF16: {
      const bool half = dtype == DType::kF16;
      for (size_t i = 0; i < count; ++i) {
        const uint16_t bits = half ? FloatToHalf(src[i]) : FloatToBFloat16(src[i]);
        std::memcpy(bytes + 2 * i, &bits, sizeof(bits));
      }
      return;
    }
    case DType::kI32:
    case DType::kI8:
    case DType::kI4:
      // Not a floating type: narrowing a float to an integer is
      // quantization, which needs a scale this function does not have.
      return;
  }
}

void RoundThroughDType(DType dtype, float* values, size_t count) {
  switch (dtype) {
    case DType::kF32:
      return;
    case DType::kF16:
      for (size_t i = 0; i < count; ++i) values[i] = HalfToFloat(FloatToHalf(values[i]));
      return;
    case DType::kBF16:
      for (size_t i = 0; i < count; ++i) values[i] = BFloat16ToFloat(FloatToBFloat16(values[i]));
      return;
    case DType::kI32:
    case DType::kI8:
    case DType::kI4:
      // An integer dtype holds no float values to round to.
      std::fill(values, values + count, std::numeric_limits<float>::quiet_NaN());
      return;
  }
}

}  // namespace bloom
