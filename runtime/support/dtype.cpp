#include "runtime/support/dtype.h"

#include <cmath>
#include <cstring>

namespace bloom {
namespace {

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

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kF32:
    case DType::kI32:
      return 4;
    case DType::kF16:
    case DType::kBF16:
      return 2;
  }
  return 0;
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
  }
  return "?";
}

std::optional<DType> ParseDTypeName(std::string_view name) {
  if (name == "F32") return DType::kF32;
  if (name == "F16") return DType::kF16;
  if (name == "BF16") return DType::kBF16;
  if (name == "I32") return DType::kI32;
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

float BFloat16ToFloat(uint16_t bits) {
  return BitsToFloat(static_cast<uint32_t>(bits) << 16);
}

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
      break;  // Not a floating type: the caller's contract excludes it.
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
      break;  // Not a floating type: the caller's contract excludes it.
  }
}

void RoundThroughDType(DType dtype, float* values, size_t count) {
  if (dtype == DType::kF16) {
    for (size_t i = 0; i < count; ++i) values[i] = HalfToFloat(FloatToHalf(values[i]));
  } else if (dtype == DType::kBF16) {
    for (size_t i = 0; i < count; ++i) values[i] = BFloat16ToFloat(FloatToBFloat16(values[i]));
  }
}

}  // namespace bloom
