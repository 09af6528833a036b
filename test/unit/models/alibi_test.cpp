// ALiBi slopes against values derived by hand from the ALiBi paper's recipe
// as transformers' build_alibi_tensor implements it: for n heads with n a
// power of two, slope_h = 2^(-8h/n), h = 1..n; otherwise the closest power
// of two c below n gets those, and the remaining heads get the odd powers
// 2^(-8p/(2c)), p = 1, 3, 5, ...
#include "models/bloom/alibi.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace bloom::model {
namespace {

// The slopes are float32 powers of a float32-rounded base, like torch's.
// The base carries a relative rounding error of at most 2^-24, which the
// p-th power multiplies by p; with p <= 95 (112 heads) and the final
// rounding that is under 100 * 2^-24 ≈ 6e-6 relative.
void ExpectSlope(float actual, double exponent_of_two, const char* what) {
  const double expected = std::exp2(exponent_of_two);
  EXPECT_NEAR(actual, expected, 6e-6 * expected) << what << ": 2^" << exponent_of_two;
}

TEST(AlibiSlopesTest, EightHeadsArePowersOfOneHalf) {
  // Base 2^-1 is exact in float, so are all its powers: 2^-1 .. 2^-8.
  const std::vector<float> slopes = AlibiSlopes(8);
  ASSERT_EQ(slopes.size(), 8u);
  for (int h = 0; h < 8; ++h) EXPECT_EQ(slopes[h], std::ldexp(1.0f, -(h + 1))) << h;
}

TEST(AlibiSlopesTest, TwelveHeadsAppendOddPowersOfTheSixteenHeadBase) {
  // c = 8: the eight-head slopes, then extra base 2^(-8/16) = 2^-0.5 to the
  // powers 1, 3, 5, 7 (min(8, 12 - 8) = 4 of them).
  const std::vector<float> slopes = AlibiSlopes(12);
  ASSERT_EQ(slopes.size(), 12u);
  for (int h = 0; h < 8; ++h) EXPECT_EQ(slopes[h], std::ldexp(1.0f, -(h + 1))) << h;
  ExpectSlope(slopes[8], -0.5, "head 8");
  ExpectSlope(slopes[9], -1.5, "head 9");
  ExpectSlope(slopes[10], -2.5, "head 10");
  ExpectSlope(slopes[11], -3.5, "head 11");
}

TEST(AlibiSlopesTest, SixteenHeadsUseBaseTwoToMinusHalf) {
  const std::vector<float> slopes = AlibiSlopes(16);
  ASSERT_EQ(slopes.size(), 16u);
  for (int h = 0; h < 16; ++h) ExpectSlope(slopes[h], -0.5 * (h + 1), "16 heads");
}

TEST(AlibiSlopesTest, OneHundredTwelveHeadsOfBloom176b) {
  // c = 64, base 2^(-8/64) = 2^-0.125 for heads 0..63; then 48 extra heads
  // with base 2^(-8/128) = 2^-0.0625 to the powers 1, 3, ..., 95.
  const std::vector<float> slopes = AlibiSlopes(112);
  ASSERT_EQ(slopes.size(), 112u);
  ExpectSlope(slopes[0], -0.125, "first");
  for (int h = 0; h < 64; ++h) ExpectSlope(slopes[h], -0.125 * (h + 1), "main");
  ExpectSlope(slopes[63], -8.0, "last main");
  for (int i = 0; i < 48; ++i) ExpectSlope(slopes[64 + i], -0.0625 * (2 * i + 1), "extra");
  ExpectSlope(slopes[111], -0.0625 * 95, "last");
}

TEST(AlibiSlopesTest, SevenHeadsInterleaveOddPowersOfTheNextBase) {
  // 7 heads: c = 4 (base 2^-2), 3 extras from base 2^-1: 2^-1, 2^-3, 2^-5.
  const std::vector<float> slopes = AlibiSlopes(7);
  const std::vector<float> expected = {0.25f, 0.0625f, 0.015625f, 0.00390625f,
                                       0.5f,  0.125f,  0.03125f};
  EXPECT_EQ(slopes, expected);
}

TEST(AlibiSlopesTest, OneHead) {
  // c = 1: base 2^(-8/1) = 2^-8, one power.
  const std::vector<float> slopes = AlibiSlopes(1);
  ASSERT_EQ(slopes.size(), 1u);
  EXPECT_EQ(slopes[0], std::ldexp(1.0f, -8));
}

TEST(AlibiSlopesTest, ThreeHeads) {
  // c = 2: base 2^-4 -> 2^-4, 2^-8; one extra from base 2^-2 -> 2^-2.
  EXPECT_EQ(AlibiSlopes(3), (std::vector<float>{0.0625f, 0.00390625f, 0.25f}));
}

}  // namespace
}  // namespace bloom::model
