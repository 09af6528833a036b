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

// Converts `count` floats to a floating `dtype` at `dst` (unaligned is fine),
// rounding to nearest even.
void ConvertFromFloat32(DType dtype, const float* src, void* dst, size_t count);

// Rounds float32 values in place to the nearest value `dtype` can hold
// (identity for kF32): how the CPU backend keeps a tensor that the plan
// stores in 16 bits in a float32 container without changing its value.
void RoundThroughDType(DType dtype, float* values, size_t count);

}  // namespace bloom
