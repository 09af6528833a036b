// Storage sizes of every dtype (packed int4 included) against hand-worked
// numbers, the int4 nibble order against hand-written bytes, names, the
// refusals of integer dtypes by the float conversions, fp16/bf16 <-> fp32
// conversions against hand-derived bit patterns, and FloatToHalf against a
// brute-force nearest-value search.
#include "runtime/support/dtype.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/support/packed_int4.h"

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

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr DType kAll[] = {DType::kF32, DType::kF16, DType::kBF16,
                          DType::kI32, DType::kI8,  DType::kI4};

TEST(DTypeTest, SizesAndNames) {
  EXPECT_EQ(DTypeSize(DType::kF32), 4u);
  EXPECT_EQ(DTypeSize(DType::kF16), 2u);
  EXPECT_EQ(DTypeSize(DType::kBF16), 2u);
  EXPECT_EQ(DTypeSize(DType::kI32), 4u);
  EXPECT_EQ(DTypeSize(DType::kI8), 1u);
  EXPECT_EQ(DTypeSize(DType::kI4), 0u);  // no per-element byte size
  for (DType d : kAll) EXPECT_EQ(ParseDTypeName(DTypeName(d)), d);
  EXPECT_EQ(DTypeName(DType::kBF16), "BF16");
  EXPECT_EQ(DTypeName(DType::kI8), "I8");
  EXPECT_EQ(DTypeName(DType::kI4), "I4");
  EXPECT_FALSE(ParseDTypeName("F64").has_value());
  EXPECT_FALSE(ParseDTypeName("f32").has_value());
  EXPECT_FALSE(ParseDTypeName("").has_value());
  EXPECT_FALSE(ParseDTypeName("U8").has_value());
  EXPECT_FALSE(ParseDTypeName("i4").has_value());
  EXPECT_FALSE(ParseDTypeName("INT4").has_value());
}

TEST(DTypeTest, BitsAndKinds) {
  const int bits[] = {32, 16, 16, 32, 8, 4};
  const bool floating[] = {true, true, true, false, false, false};
  for (size_t i = 0; i < std::size(kAll); ++i) {
    EXPECT_EQ(DTypeBits(kAll[i]), bits[i]) << DTypeName(kAll[i]);
    EXPECT_EQ(IsFloatingDType(kAll[i]), floating[i]) << DTypeName(kAll[i]);
    EXPECT_EQ(IsSubByteDType(kAll[i]), kAll[i] == DType::kI4) << DTypeName(kAll[i]);
  }
}

TEST(DTypeTest, StorageBytesHandWorked) {
  // Whole-byte types: elements * bytes.
  EXPECT_EQ(StorageBytes(DType::kF32, 3), 12u);
  EXPECT_EQ(StorageBytes(DType::kBF16, 3), 6u);
  EXPECT_EQ(StorageBytes(DType::kI8, 5), 5u);
  EXPECT_EQ(StorageBytes(DType::kI32, 0), 0u);
  // int4: two to a byte, a half-full last byte counts.
  EXPECT_EQ(StorageBytes(DType::kI4, 0), 0u);
  EXPECT_EQ(StorageBytes(DType::kI4, 1), 1u);
  EXPECT_EQ(StorageBytes(DType::kI4, 2), 1u);
  EXPECT_EQ(StorageBytes(DType::kI4, 3), 2u);
  // BLOOM-176B's 4h->h weight [14336, 57344]: 822083584 values, 411041792 bytes.
  EXPECT_EQ(StorageBytes(DType::kI4, 14336ull * 57344), 411041792u);
  // Far past where elements * 4 bits would wrap: still exact.
  EXPECT_EQ(StorageBytes(DType::kI4, ~uint64_t{0}), (uint64_t{1} << 63));
  // Row strides: a g128 int4 row of 4096 values is 2048 bytes.
  EXPECT_EQ(RowStrideBytes(DType::kI4, 4096), 2048u);
  EXPECT_EQ(RowStrideBytes(DType::kI8, 4096), 4096u);
  EXPECT_EQ(RowStrideBytes(DType::kF16, 7), 14u);
  EXPECT_EQ(RowStrideBytes(DType::kI4, 0), 0u);
}

TEST(DTypeTest, StorageShapes) {
  const std::vector<int64_t> rows_of_four = {3, 4}, odd_rows = {4, 3}, scalar = {},
                             negative = {2, -1}, empty_rows = {5, 0};
  EXPECT_TRUE(CheckStorageShape(DType::kI4, rows_of_four, "w").ok());
  EXPECT_TRUE(CheckStorageShape(DType::kI4, empty_rows, "w").ok());
  EXPECT_TRUE(CheckStorageShape(DType::kF32, scalar, "w").ok());
  EXPECT_TRUE(CheckStorageShape(DType::kI8, odd_rows, "w").ok());
  absl::Status odd = CheckStorageShape(DType::kI4, odd_rows, "t 'w'");
  EXPECT_FALSE(odd.ok());
  EXPECT_THAT(std::string(odd.message()), AllOf(HasSubstr("t 'w': "), HasSubstr("I4"),
                                                HasSubstr("multiple of 2"), HasSubstr("[4, 3]")));
  EXPECT_FALSE(CheckStorageShape(DType::kI4, scalar, "w").ok());
  absl::Status bad = CheckStorageShape(DType::kF16, negative, "w");
  EXPECT_THAT(std::string(bad.message()), HasSubstr("dimension 1 is negative"));
}

TEST(Int4Test, PacksLowNibbleFirst) {
  // Hand-written nibbles: 1 -> 0x1, -1 -> 0xF, 7 -> 0x7, -8 -> 0x8, 3 -> 0x3,
  // -2 -> 0xE; element 2i low, 2i + 1 high; the odd last byte's high nibble 0.
  const std::vector<int8_t> values = {1, -1, 7, -8, 0, 3, -2};
  const std::vector<uint8_t> expected = {0xF1, 0x87, 0x30, 0x0E};
  std::vector<uint8_t> packed(4, 0xAA);
  ASSERT_TRUE(PackInt4(values, absl::MakeSpan(packed)).ok());
  EXPECT_EQ(packed, expected);
  std::vector<int8_t> unpacked(values.size());
  ASSERT_TRUE(UnpackInt4(expected, absl::MakeSpan(unpacked)).ok());
  EXPECT_EQ(unpacked, values);
  EXPECT_EQ(Int4At(expected.data(), 3), -8);
  EXPECT_EQ(Int4At(expected.data(), 5), 3);
}

TEST(Int4Test, EveryByteRoundTrips) {
  for (int byte = 0; byte < 256; ++byte) {
    const std::vector<uint8_t> packed = {static_cast<uint8_t>(byte)};
    std::vector<int8_t> values(2);
    ASSERT_TRUE(UnpackInt4(packed, absl::MakeSpan(values)).ok());
    // Sign extension by hand: a nibble n >= 8 is n - 16.
    const int low = byte & 0xF, high = byte >> 4;
    EXPECT_EQ(values[0], low >= 8 ? low - 16 : low);
    EXPECT_EQ(values[1], high >= 8 ? high - 16 : high);
    std::vector<uint8_t> repacked(1);
    ASSERT_TRUE(PackInt4(values, absl::MakeSpan(repacked)).ok());
    EXPECT_EQ(repacked, packed);
  }
}

TEST(Int4Test, Refusals) {
  std::vector<uint8_t> packed(2);
  absl::Status range = PackInt4(std::vector<int8_t>{0, 1, 8}, absl::MakeSpan(packed));
  EXPECT_THAT(std::string(range.message()), HasSubstr("value 2 is 8, outside [-8, 7]"));
  range = PackInt4(std::vector<int8_t>{-9}, absl::MakeSpan(packed).subspan(0, 1));
  EXPECT_THAT(std::string(range.message()), HasSubstr("value 0 is -9"));
  absl::Status size = PackInt4(std::vector<int8_t>{0, 1, 2}, absl::MakeSpan(packed).subspan(0, 1));
  EXPECT_THAT(std::string(size.message()), HasSubstr("3 int4 values take 2 bytes, not 1"));
  std::vector<int8_t> values(5);
  EXPECT_FALSE(UnpackInt4(packed, absl::MakeSpan(values)).ok());
}

// Integer bits are never handed out as floats: NaN instead, and an integer
// destination is left as it was.
TEST(DTypeTest, FloatConversionsRefuseIntegerTypes) {
  for (DType d : {DType::kI32, DType::kI8, DType::kI4}) {
    const std::vector<uint8_t> bytes = {0x00, 0x00, 0x80, 0x3F};  // 1.0f as F32
    std::vector<float> out(4, 0.0f);
    ConvertToFloat32(d, bytes.data(), out.data(), out.size());
    for (float v : out) EXPECT_TRUE(std::isnan(v)) << DTypeName(d);
    std::vector<uint8_t> dst(16, 0x5A);
    const std::vector<float> src = {1.0f, 2.0f, 3.0f, 4.0f};
    ConvertFromFloat32(d, src.data(), dst.data(), src.size());
    EXPECT_EQ(dst, std::vector<uint8_t>(16, 0x5A)) << DTypeName(d);
    std::vector<float> values = {1.0f, -2.5f};
    RoundThroughDType(d, values.data(), values.size());
    for (float v : values) EXPECT_TRUE(std::isnan(v)) << DTypeName(d);
  }
}

TEST(HalfTest, HalfToFloatHandDerived) {
  EXPECT_EQ(HalfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xC000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x3555), 0.333251953125f);           // 1.0101010101b * 2^-2
  EXPECT_EQ(HalfToFloat(0x7BFF), 65504.0f);                  // largest finite
  EXPECT_EQ(HalfToFloat(0x0400), std::ldexp(1.0f, -14));     // smallest normal
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));     // smallest subnormal
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
  const float unit = std::ldexp(1.0f, -24);     // one half subnormal step
  EXPECT_EQ(FloatToHalf(0.5f * unit), 0x0000);  // tie to even 0
  EXPECT_EQ(FloatToHalf(std::nextafter(0.5f * unit, 1.0f)), 0x0001);
  EXPECT_EQ(FloatToHalf(0.49f * unit), 0x0000);
  EXPECT_EQ(FloatToHalf(1.5f * unit), 0x0002);  // tie: 1 odd, 2 even
  EXPECT_EQ(FloatToHalf(2.5f * unit), 0x0002);  // tie: 2 even
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
    if (static_cast<double>(HalfToFloat(static_cast<uint16_t>(mid))) <= a)
      lo = mid;
    else
      hi = mid - 1;
  }
  if (lo == 0x7BFF) return sign | 0x7BFF;
  const double below = HalfToFloat(static_cast<uint16_t>(lo));
  const double above = HalfToFloat(static_cast<uint16_t>(lo + 1));
  uint32_t pick;
  if (a - below < above - a)
    pick = lo;
  else if (a - below > above - a)
    pick = lo + 1;
  else
    pick = (lo % 2 == 0) ? lo : lo + 1;
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
    float mid = static_cast<float>((static_cast<double>(HalfToFloat(h)) + HalfToFloat(h + 1)) /
                                   2);  // exact in float
    for (float x : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f), -mid}) {
      ASSERT_EQ(FloatToHalf(x), ReferenceFloatToHalf(x))
          << "float bits 0x" << std::hex << ToBits(x);
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
  const uint8_t f16[] = {0xAA, 0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00};              // 1, -2, 2^-24
  const uint8_t bf16[] = {0xAA, 0x80, 0x3F, 0x40, 0xC0};                         // 1, -3
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
