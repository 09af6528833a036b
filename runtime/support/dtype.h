// Element types of checkpoint tensors and plan buffers, and the conversions
// between them. Conversions to a narrower type round to nearest even, as
// PyTorch's .to() does, so a precision policy can be emulated bit-exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace bloom {

enum class DType : uint8_t { kF32, kF16, kBF16, kI32 };

// Bytes per element.
size_t DTypeSize(DType dtype);
// The safetensors spelling: "F32", "F16", "BF16", "I32".
std::string_view DTypeName(DType dtype);
// Parses a safetensors dtype string; nullopt for anything else.
std::optional<DType> ParseDTypeName(std::string_view name);

float HalfToFloat(uint16_t bits);
uint16_t FloatToHalf(float value);
float BFloat16ToFloat(uint16_t bits);
uint16_t FloatToBFloat16(float value);

// Converts `count` elements of a floating type stored at `src` (unaligned is
// fine) to float32. `dtype` must be kF32, kF16 or kBF16.
void ConvertToFloat32(DType dtype, const void* src, float* dst, size_t count);

}  // namespace bloom
