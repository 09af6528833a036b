// fp16/bf16 <-> fp32 conversions against hand-derived bit patterns, and
// FloatToHalf against a brute-force nearest-value search.
#include "runtime/support/dtype.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace bloom {
namespace {

float FromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
uint32_t ToBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
}

TEST(DTypeTest, SizesAndNames) {
  EXPECT_EQ(DTypeSize(DType::kF32), 4u);
  EXPECT_EQ(DTypeSize(DType::kF16), 2u);
  EXPECT_EQ(DTypeSize(DType::kBF16), 2u);
  EXPECT_EQ(DTypeSize(DType::kI32), 4u);
  for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kI32}) {
    EXPECT_EQ(ParseDTypeName(DTypeName(d)), d);
  }
  EXPECT_EQ(DTypeName(DType::kBF16), "BF16");
  EXPECT_FALSE(ParseDTypeName("F64").has_value());
  EXPECT_FALSE(ParseDTypeName("f32").has_value());
  EXPECT_FALSE(ParseDTypeName("").has_value());
}

TEST(HalfTest, HalfToFloatHandDerived) {
  EXPECT_EQ(HalfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xC000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x3555), 0.333251953125f);   // 1.0101010101b * 2^-2
  EXPECT_EQ(HalfToFloat(0x7BFF), 65504.0f);          // largest finite
  EXPECT_EQ(HalfToFloat(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(HalfToFloat(0x03FF), std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(HalfToFloat(0x8001), -std::ldexp(1.0f, -24));
  EXPECT_EQ(ToBits(HalfToFloat(0x0000)), 0x00000000u);
  EXPECT_EQ(ToBits(HalfToFloat(0x8000)), 0x80000000u);  // -0 keeps its sign
  EXPECT_EQ(ToBits(HalfToFloat(0x7C00)), 0x7F800000u);  // +inf
  EXPECT_EQ(ToBits(HalfToFloat(0xFC00)), 0xFF800000u);  // -inf
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7E00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7C01)));  // signalling NaN stays NaN
  EXPECT_TRUE(std::signbit(HalfToFloat(0xFE00)));
}

TEST(HalfTest, FloatToHalfExactAndSpecial) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3C00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xC000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7BFF);
  EXPECT_EQ(FloatToHalf(0.0f), 0x0000);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(FloatToHalf(-std::numeric_limits<float>::infinity()), 0xFC00);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -14)), 0x0400);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -24)), 0x0001);
  uint16_t nan = FloatToHalf(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7C00, 0x7C00);
  EXPECT_NE(nan & 0x03FF, 0);
  // A NaN whose payload sits only in bits that half drops must stay NaN.
  uint16_t low_payload_nan = FloatToHalf(FromBits(0x7F800001u));
  EXPECT_EQ(low_payload_nan & 0x7C00, 0x7C00);
  EXPECT_NE(low_payload_nan & 0x03FF, 0);
  EXPECT_EQ(FloatToHalf(FromBits(0xFFC00000u)) & 0x8000, 0x8000);
}

TEST(HalfTest, FloatToHalfRoundsToNearestEven) {
  // Ulp at 1.0 is 2^-10; 1 + 2^-11 is halfway between 0x3C00 (even) and 0x3C01.
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  // 1 + 3*2^-11 is halfway between 0x3C01 (odd) and 0x3C02 (even).
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  // Just above the halfway point rounds up.
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3C01);
  // Ulp at 2048 is 2: 2049 ties to 2048 (0x6800), 2051 ties to 2052 (0x6802).
  EXPECT_EQ(FloatToHalf(2049.0f), 0x6800);
  EXPECT_EQ(FloatToHalf(2051.0f), 0x6802);
  // Rounding carries out of the mantissa into the exponent: 2047.9 -> 2048.
  EXPECT_EQ(FloatToHalf(2047.9f), 0x6800);
  // Overflow: 65519.99 stays at 65504; 65520 ties to "even" 2^16 = inf.
  EXPECT_EQ(FloatToHalf(FromBits(0x477FEFFFu)), 0x7BFF);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7C00);
  EXPECT_EQ(FloatToHalf(-65520.0f), 0xFC00);
  EXPECT_EQ(FloatToHalf(1e6f), 0x7C00);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::max()), 0x7C00);
}

TEST(HalfTest, FloatToHalfSubnormals) {
  const float unit = std::ldexp(1.0f, -24);  // one half subnormal step
  EXPECT_EQ(FloatToHalf(0.5f * unit), 0x0000);           // tie to even 0
  EXPECT_EQ(FloatToHalf(std::nextafter(0.5f * unit, 1.0f)), 0x0001);
  EXPECT_EQ(FloatToHalf(0.49f * unit), 0x0000);
  EXPECT_EQ(FloatToHalf(1.5f * unit), 0x0002);           // tie: 1 odd, 2 even
  EXPECT_EQ(FloatToHalf(2.5f * unit), 0x0002);           // tie: 2 even
  EXPECT_EQ(FloatToHalf(-2.5f * unit), 0x8002);
  EXPECT_EQ(FloatToHalf(100.0f * unit), 100);
  // Halfway between the largest subnormal 0x3FF and the smallest normal
  // 0x400 rounds to the even one, the normal.
  EXPECT_EQ(FloatToHalf(1023.5f * unit), 0x0400);
  EXPECT_EQ(FloatToHalf(1022.5f * unit), 0x03FE);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(FloatToHalf(-std::numeric_limits<float>::denorm_min()), 0x8000);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::min()), 0x0000);
}

// Every half value converts to float and back to itself.
TEST(HalfTest, AllHalvesRoundTrip) {
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    float f = HalfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_EQ(h & 0x7C00, 0x7C00u);
      EXPECT_NE(h & 0x03FF, 0u);
      continue;
    }
    ASSERT_EQ(FloatToHalf(f), h) << "half bits 0x" << std::hex << h;
  }
}

// Naive reference: the finite halves are ordered by bit pattern, so find the
// two neighbours of |x| by search and pick the nearer (ties: even pattern).
uint16_t ReferenceFloatToHalf(float x) {
  const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  const double a = std::fabs(static_cast<double>(x));
  if (a >= 65520.0) return sign | 0x7C00;
  uint32_t lo = 0, hi = 0x7BFF;  // invariant: value(lo) <= a
  while (lo < hi) {
    uint32_t mid = (lo + hi + 1) / 2;
    if (static_cast<double>(HalfToFloat(static_cast<uint16_t>(mid))) <= a) lo = mid; else hi = mid - 1;
  }
  if (lo == 0x7BFF) return sign | 0x7BFF;
  const double below = HalfToFloat(static_cast<uint16_t>(lo));
  const double above = HalfToFloat(static_cast<uint16_t>(lo + 1));
  uint32_t pick;
  if (a - below < above - a) pick = lo;
  else if (a - below > above - a) pick = lo + 1;
  else pick = (lo % 2 == 0) ? lo : lo + 1;
  return static_cast<uint16_t>(sign | pick);
}

TEST(HalfTest, FloatToHalfMatchesNaiveReference) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<uint32_t> any_bits;
  // Floats with exponents in and around half's range, plus midpoints
  // between adjacent halves (the tie cases) and their neighbours.
  for (int i = 0; i < 200000; ++i) {
    uint32_t bits = any_bits(rng);
    uint32_t exponent = 100 + (bits % 45);  // 2^-27 .. 2^17
    float x = FromBits((bits & 0x807FFFFFu) | (exponent << 23));
    ASSERT_EQ(FloatToHalf(x), ReferenceFloatToHalf(x)) << "float bits 0x" << std::hex << ToBits(x);
  }
  for (uint32_t h = 0; h < 0x7BFF; ++h) {
    float mid = static_cast<float>(
        (static_cast<double>(HalfToFloat(h)) + HalfToFloat(h + 1)) / 2);  // exact in float
    for (float x : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f), -mid}) {
      ASSERT_EQ(FloatToHalf(x), ReferenceFloatToHalf(x)) << "float bits 0x" << std::hex << ToBits(x);
    }
  }
}

TEST(BFloat16Test, HandDerived) {
  EXPECT_EQ(BFloat16ToFloat(0x3F80), 1.0f);
  EXPECT_EQ(BFloat16ToFloat(0xC040), -3.0f);
  EXPECT_EQ(BFloat16ToFloat(0x0001), FromBits(0x00010000u));  // subnormal
  EXPECT_EQ(ToBits(BFloat16ToFloat(0x7F80)), 0x7F800000u);
  EXPECT_EQ(ToBits(BFloat16ToFloat(0x8000)), 0x80000000u);
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(0x7FC0)));

  EXPECT_EQ(FloatToBFloat16(1.0f), 0x3F80);
  EXPECT_EQ(FloatToBFloat16(-3.0f), 0xC040);
  EXPECT_EQ(FloatToBFloat16(-0.0f), 0x8000);
  // Ties to even: 0x3F808000 is halfway between 0x3F80 (even) and 0x3F81.
  EXPECT_EQ(FloatToBFloat16(FromBits(0x3F808000u)), 0x3F80);
  EXPECT_EQ(FloatToBFloat16(FromBits(0x3F818000u)), 0x3F82);
  EXPECT_EQ(FloatToBFloat16(FromBits(0x3F808001u)), 0x3F81);
  EXPECT_EQ(FloatToBFloat16(FromBits(0x3F807FFFu)), 0x3F80);
  // Carry into the exponent, and overflow of the largest floats into inf.
  EXPECT_EQ(FloatToBFloat16(FromBits(0x3FFFFFFFu)), 0x4000);
  EXPECT_EQ(FloatToBFloat16(FromBits(0x7F7F7FFFu)), 0x7F7F);
  EXPECT_EQ(FloatToBFloat16(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(FloatToBFloat16(-std::numeric_limits<float>::infinity()), 0xFF80);
  // Subnormals round the same way.
  EXPECT_EQ(FloatToBFloat16(FromBits(0x00008000u)), 0x0000);
  EXPECT_EQ(FloatToBFloat16(FromBits(0x00018000u)), 0x0002);
  EXPECT_EQ(FloatToBFloat16(FromBits(0x80008001u)), 0x8001);
  // NaN with payload only in the dropped bits must not become inf.
  uint16_t nan = FloatToBFloat16(FromBits(0x7F800001u));
  EXPECT_EQ(nan & 0x7F80, 0x7F80);
  EXPECT_NE(nan & 0x007F, 0);
  EXPECT_EQ(FloatToBFloat16(FromBits(0xFFC00000u)) & 0x8000, 0x8000);
}

TEST(ConvertTest, UnalignedSourcesOfEachType) {
  // One byte of offset makes every element unaligned.
  const uint8_t f16[] = {0xAA, 0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00};  // 1, -2, 2^-24
  const uint8_t bf16[] = {0xAA, 0x80, 0x3F, 0x40, 0xC0};               // 1, -3
  const uint8_t f32[] = {0xAA, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x20, 0xC1};  // 1, -10
  float out[3] = {};
  ConvertToFloat32(DType::kF16, f16 + 1, out, 3);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -2.0f);
  EXPECT_EQ(out[2], std::ldexp(1.0f, -24));
  ConvertToFloat32(DType::kBF16, bf16 + 1, out, 2);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -3.0f);
  ConvertToFloat32(DType::kF32, f32 + 1, out, 2);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -10.0f);
}

}  // namespace
}  // namespace bloom
