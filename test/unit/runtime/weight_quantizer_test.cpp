// The round-to-nearest weight quantizer (runtime/support/weight_quantizer.h):
// hand-worked rows and groups, ties to even, scale saturation, a scalar
// reference written from the formula in this file (std::nearbyint and the
// f16 conversion, no vector tricks) on random data of many magnitudes, the
// round-trip error bound, thread-count independence, and the errors.
#include "runtime/support/weight_quantizer.h"

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/support/dtype.h"
#include "runtime/support/packed_int4.h"

namespace bloom {
namespace {

using ::testing::HasSubstr;

QuantizedMatrix Quantize(const std::vector<float>& w, int64_t rows, int64_t cols,
                         WeightFormat format, int64_t group_size, DType scale_dtype = DType::kF16,
                         int threads = 0) {
  absl::StatusOr<QuantizedMatrix> m =
      QuantizeWeight(w, rows, cols, format, group_size, scale_dtype, "w", threads);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *std::move(m) : QuantizedMatrix{};
}

uint16_t HalfBitsAt(const QuantizedMatrix& m, int64_t group) {
  uint16_t bits;
  std::memcpy(&bits, m.scales.data() + 2 * group, 2);
  return bits;
}

float HalfAt(const QuantizedMatrix& m, int64_t group) { return HalfToFloat(HalfBitsAt(m, group)); }

std::vector<int> Int4Values(const QuantizedMatrix& m) {
  std::vector<int8_t> q(m.rows * m.cols);
  EXPECT_TRUE(UnpackInt4(m.values, absl::MakeSpan(q)).ok());
  return {q.begin(), q.end()};
}

std::vector<int> Int8Values(const QuantizedMatrix& m) {
  std::vector<int> q;
  for (uint8_t byte : m.values) q.push_back(static_cast<int8_t>(byte));
  return q;
}

TEST(WeightFormatTest, NamesRoundTrip) {
  EXPECT_EQ(WeightFormatName(WeightFormat::kInt8PerChannel), "int8");
  EXPECT_EQ(WeightFormatName(WeightFormat::kInt4Grouped), "int4");
  EXPECT_EQ(ParseWeightFormat("int8"), WeightFormat::kInt8PerChannel);
  EXPECT_EQ(ParseWeightFormat("int4"), WeightFormat::kInt4Grouped);
  EXPECT_EQ(ParseWeightFormat("bf16"), std::nullopt);
  EXPECT_EQ(WeightFormatValues(WeightFormat::kInt8PerChannel), DType::kI8);
  EXPECT_EQ(WeightFormatValues(WeightFormat::kInt4Grouped), DType::kI4);
}

// Row [0.5, -1.27, 1.27, 0]: amax = 1.27f = 1.2699999809; / 127 =
// 0.0099999998 = 1.28 * 2^-7. f16 keeps 10 fraction bits: 0.28 * 1024 =
// 286.72 rounds to 287, so scale = 1311 * 2^-17 = 0.01000213623046875
// (bits 0x211F: biased exponent 15 - 7 = 8, 8 << 10 | 287). Then 0.5 / s = 49.989
// -> 50 and 1.27 / s = 126.973 -> 127; dequantized 50 * 1311 / 2^17 =
// 0.5001068115234375 and 127 * 1311 / 2^17 = 1.270271301269531.
TEST(WeightQuantizerTest, Int8RowWorkedByHand) {
  const QuantizedMatrix m =
      Quantize({0.5f, -1.27f, 1.27f, 0.0f}, 1, 4, WeightFormat::kInt8PerChannel, 0);
  EXPECT_EQ(m.group_size, 4);
  EXPECT_EQ(m.scales.size(), 2u);
  EXPECT_TRUE(m.zero_points.empty());
  EXPECT_EQ(HalfBitsAt(m, 0), 0x211F);
  EXPECT_EQ(HalfAt(m, 0), 0.01000213623046875f);
  EXPECT_EQ(Int8Values(m), (std::vector<int>{50, -127, 127, 0}));
  EXPECT_EQ(DequantizeWeight(m), (std::vector<float>{0.5001068115234375f, -1.270271301269531f,
                                                     1.270271301269531f, 0.0f}));
}

// amax = 31.75 = 127 * 0.25, so the scale is exactly 0.25 and w / s is
// exact: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -1.5 -> -2, -2.5 -> -2, 3.5 -> 4,
// 125.5 -> 126, -126.5 -> -126 (half to even), and +-127.
TEST(WeightQuantizerTest, Int8TiesRoundToEven) {
  const QuantizedMatrix m = Quantize(
      {31.75f, 0.125f, 0.375f, 0.625f, -0.375f, -0.625f, 0.875f, 31.375f, -31.625f, -31.75f}, 1, 10,
      WeightFormat::kInt8PerChannel, 10);
  EXPECT_EQ(HalfAt(m, 0), 0.25f);
  EXPECT_EQ(Int8Values(m), (std::vector<int>{127, 0, 2, 2, -2, -2, 4, 126, -126, -127}));
}

// Two rows, two scales: each row is its own channel.
TEST(WeightQuantizerTest, Int8ScalesArePerRow) {
  const QuantizedMatrix m = Quantize({12.7f, -6.35f, 0.0f, 0.254f, 0.127f, -0.0635f, 0.0f, 0.254f},
                                     2, 4, WeightFormat::kInt8PerChannel, 0);
  // Row 0: amax 12.7, scale f16(0.1) = 1638 * 2^-14 = 0.0999755859375.
  // Row 1: amax 0.254, scale f16(0.002) = 1.024 * 2^-9 -> 1049 * 2^-19.
  EXPECT_EQ(HalfAt(m, 0), 1638.0f / 16384.0f);
  EXPECT_EQ(HalfAt(m, 1), 1049.0f / 524288.0f);
  // 12.7 / 0.09998 = 127.03 -> 127; 6.35 / s = 63.5155 -> 64; 0.254 / s =
  // 2.5406 -> 3. Row 1: 0.254 / 0.0020008 = 126.95 -> 127, 0.127 -> 63.47
  // -> 63, 0.0635 -> 31.74 -> 32.
  EXPECT_EQ(Int8Values(m), (std::vector<int>{127, -64, 0, 3, 63, -32, 0, 127}));
}

// A zero row has scale 0 and q = 0; so has a row so small that amax / 127
// rounds to 0 in f16 (below 2^-25, half the smallest subnormal).
TEST(WeightQuantizerTest, Int8ZeroAndUnderflowingRows) {
  const QuantizedMatrix m =
      Quantize({0.0f, -0.0f, 0.0f, 1e-9f, -2e-9f, 0.0f}, 2, 3, WeightFormat::kInt8PerChannel, 3);
  EXPECT_EQ(HalfBitsAt(m, 0), 0);
  EXPECT_EQ(HalfBitsAt(m, 1), 0);
  EXPECT_EQ(Int8Values(m), (std::vector<int>(6, 0)));
  EXPECT_EQ(DequantizeWeight(m), (std::vector<float>(6, 0.0f)));
}

// 1e7 / 127 = 78740 is past f16's largest finite value 65504 (0x7BFF):
// the scale saturates there instead of becoming infinity, and the values
// clamp: 1e7 / 65504 = 152.7 -> 127, 196512 / 65504 = 3 exactly.
TEST(WeightQuantizerTest, Int8ScaleSaturatesAtHalfMax) {
  const QuantizedMatrix m =
      Quantize({1e7f, 196512.0f, -1e7f, 0.0f}, 1, 4, WeightFormat::kInt8PerChannel, 0);
  EXPECT_EQ(HalfBitsAt(m, 0), 0x7BFF);
  EXPECT_EQ(Int8Values(m), (std::vector<int>{127, 3, -127, 0}));
}

// Groups of 4 (g = 4 along rows of 8 and 4), scales exactly 0.25 where
// mx - mn = 3.75, so every quotient below is exact:
//   all positive [0.75, 1.5, 3.75, 0]: mn clamps to 0, zero = 0 - 8 = -8,
//     q = 3 - 8, 6 - 8, 15 - 8, 0 - 8 = -5, -2, 7, -8;
//   all negative [-0.5, -3.75, -1, -2.25]: mx clamps to 0, -mn / s = 15,
//     zero = 7, q = -2 + 7, -15 + 7, -4 + 7, -9 + 7 = 5, -8, 3, -2;
//   mixed [-1, 2.75, 0.5, 0]: -mn / s = 4, zero = -4, q = -8, 7, -2, -4;
//   zeros: scale 0, zero 0, q 0.
TEST(WeightQuantizerTest, Int4GroupsWorkedByHand) {
  const std::vector<float> w = {0.75f, 1.5f,  3.75f, 0.0f, -0.5f, -3.75f, -1.0f, -2.25f,
                                -1.0f, 2.75f, 0.5f,  0.0f, 0.0f,  0.0f,   0.0f,  0.0f};
  const QuantizedMatrix m = Quantize(w, 2, 8, WeightFormat::kInt4Grouped, 4);
  ASSERT_EQ(m.values.size(), 8u);
  ASSERT_EQ(m.scales.size(), 8u);
  EXPECT_EQ(HalfAt(m, 0), 0.25f);
  EXPECT_EQ(HalfAt(m, 1), 0.25f);
  EXPECT_EQ(HalfAt(m, 2), 0.25f);
  EXPECT_EQ(HalfBitsAt(m, 3), 0);
  EXPECT_EQ(m.zero_points, (std::vector<int8_t>{-8, 7, -4, 0}));
  EXPECT_EQ(Int4Values(m),
            (std::vector<int>{-5, -2, 7, -8, 5, -8, 3, -2, -8, 7, -2, -4, 0, 0, 0, 0}));
  // Low nibble first: (-5, -2) is 0xB | 0xE << 4.
  EXPECT_EQ(m.values[0], 0xEB);
  // Every value here is on the grid, so dequantizing gives w back.
  EXPECT_EQ(DequantizeWeight(m), w);
}

// A group whose scale rounds in f16: [0, 1] has (1 - 0) / 15 = 0.0666667 =
// 1.0666667 * 2^-4; 0.0666667 * 1024 = 68.27 -> 68, so scale = 1092 * 2^-14
// = 0.066650390625 (bits 11 << 10 | 68 = 0x2C44). 1 / s = 15.0037 -> 15, zero = -8, q = -8,
// 7; dequantized 15 * 1092 / 16384 = 0.999755859375.
TEST(WeightQuantizerTest, Int4ScaleRoundsInHalf) {
  const QuantizedMatrix m = Quantize({0.0f, 1.0f}, 1, 2, WeightFormat::kInt4Grouped, 2);
  EXPECT_EQ(HalfBitsAt(m, 0), 0x2C44);
  EXPECT_EQ(m.zero_points, (std::vector<int8_t>{-8}));
  EXPECT_EQ(Int4Values(m), (std::vector<int>{-8, 7}));
  EXPECT_EQ(DequantizeWeight(m), (std::vector<float>{0.0f, 0.999755859375f}));
}

// mn = -0.625, mx = 3.125: scale 3.75 / 15 = 0.25, -mn / s = 2.5 -> 2 (half
// to even), zero = -6. q: -2.5 -> -2, 12.5 -> 12, 0.5 -> 0, 1.5 -> 2, each
// + zero: -8, 6, -6, -4.
TEST(WeightQuantizerTest, Int4TiesRoundToEven) {
  const QuantizedMatrix m =
      Quantize({-0.625f, 3.125f, 0.125f, 0.375f}, 1, 4, WeightFormat::kInt4Grouped, 4);
  EXPECT_EQ(HalfAt(m, 0), 0.25f);
  EXPECT_EQ(m.zero_points, (std::vector<int8_t>{-6}));
  EXPECT_EQ(Int4Values(m), (std::vector<int>{-8, 6, -6, -4}));
}

// mx - mn overflows float32 to infinity; the scale saturates in every
// scale dtype (f16 0x7BFF, bf16 0x7F7F, f32 FLT_MAX), the zero point
// clamps to 7 for f16 (-mn / 65504 is huge) and the values clamp too.
TEST(WeightQuantizerTest, Int4ScaleSaturatesInEveryScaleDType) {
  const std::vector<float> w = {3e38f, -3e38f};
  const QuantizedMatrix f16 = Quantize(w, 1, 2, WeightFormat::kInt4Grouped, 2, DType::kF16);
  EXPECT_EQ(HalfBitsAt(f16, 0), 0x7BFF);
  EXPECT_EQ(f16.zero_points, (std::vector<int8_t>{7}));
  EXPECT_EQ(Int4Values(f16), (std::vector<int>{7, -8}));

  const QuantizedMatrix bf16 = Quantize(w, 1, 2, WeightFormat::kInt4Grouped, 2, DType::kBF16);
  ASSERT_EQ(bf16.scales.size(), 2u);
  EXPECT_EQ(bf16.scales[0] | bf16.scales[1] << 8, 0x7F7F);

  const QuantizedMatrix f32 = Quantize(w, 1, 2, WeightFormat::kInt4Grouped, 2, DType::kF32);
  float scale;
  ASSERT_EQ(f32.scales.size(), 4u);
  std::memcpy(&scale, f32.scales.data(), 4);
  EXPECT_EQ(scale, FLT_MAX);
  // -mn / FLT_MAX = 0.88 -> 1, zero = -7; q = 1 - 7 and -1 - 7.
  EXPECT_EQ(f32.zero_points, (std::vector<int8_t>{-7}));
  EXPECT_EQ(Int4Values(f32), (std::vector<int>{-6, -8}));
}

// ---- A scalar reference from the formula, for random data ----

struct Reference {
  std::vector<int> q, zero;
  std::vector<float> scale;
};

float ReferenceScale(float value) {
  uint16_t bits = FloatToHalf(value);
  if (bits == 0x7C00) bits = 0x7BFF;  // saturate instead of infinity
  return HalfToFloat(bits);
}

int ClampInt(double v, int low, int high) {
  return static_cast<int>(std::fmin(std::fmax(v, low), high));
}

Reference QuantizeByFormula(const std::vector<float>& w, int64_t rows, int64_t cols,
                            WeightFormat format, int64_t g) {
  Reference ref;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t begin = 0; begin < cols; begin += g) {
      const float* x = w.data() + r * cols + begin;
      if (format == WeightFormat::kInt8PerChannel) {
        float amax = 0.0f;
        for (int64_t i = 0; i < g; ++i) amax = std::fmax(amax, std::fabs(x[i]));
        const float s = ReferenceScale(amax / 127.0f);
        ref.scale.push_back(s);
        for (int64_t i = 0; i < g; ++i) {
          ref.q.push_back(s == 0.0f ? 0 : ClampInt(std::nearbyint(x[i] / s), -127, 127));
        }
        continue;
      }
      float mn = 0.0f, mx = 0.0f;
      for (int64_t i = 0; i < g; ++i) {
        mn = std::fmin(mn, x[i]);
        mx = std::fmax(mx, x[i]);
      }
      const float s = ReferenceScale((mx - mn) / 15.0f);
      ref.scale.push_back(s);
      const int zero = s == 0.0f ? 0 : ClampInt(std::nearbyint(-mn / s) - 8.0, -8, 7);
      ref.zero.push_back(zero);
      for (int64_t i = 0; i < g; ++i) {
        ref.q.push_back(s == 0.0f ? 0 : ClampInt(std::nearbyint(x[i] / s) + zero, -8, 7));
      }
    }
  }
  return ref;
}

// Row magnitudes for the random weights: 1e-7 and 3e-5 put scales among
// f16's subnormals (or round them to 0), 1e4 near f16's top.
const std::vector<float> kAllMagnitudes = {1e-7f, 3e-5f, 1e-3f, 0.02f, 1.0f, 7.0f, 1e4f};
// Magnitudes whose scales are normal f16 numbers (>= 2^-14), where the
// scale's relative rounding error is at most 2^-11.
const std::vector<float> kNormalScaleMagnitudes = {0.02f, 1.0f, 7.0f, 1e4f};

// Rows of the given magnitudes in turn, with exact zeros and repeated
// values mixed in.
std::vector<float> RandomWeights(int64_t rows, int64_t cols, uint32_t seed,
                                 const std::vector<float>& magnitudes = kAllMagnitudes) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::uniform_int_distribution<int> pick(0, 9);
  std::vector<float> w(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float magnitude = magnitudes[r % magnitudes.size()];
    const bool one_signed = r % 5 == 3;  // some rows all positive
    for (int64_t c = 0; c < cols; ++c) {
      float v = uniform(generator) * magnitude;
      if (one_signed) v = std::fabs(v);
      const int kind = pick(generator);
      if (kind == 0) v = 0.0f;
      if (kind == 1 && c > 0) v = w[r * cols + c - 1];
      w[r * cols + c] = v;
    }
  }
  return w;
}

struct FormatCase {
  WeightFormat format;
  int64_t rows, cols, group_size;
};

class WeightQuantizerFormulaTest : public ::testing::TestWithParam<FormatCase> {};

TEST_P(WeightQuantizerFormulaTest, MatchesScalarFormulaBitForBit) {
  const FormatCase p = GetParam();
  const std::vector<float> w = RandomWeights(p.rows, p.cols, 7);
  const QuantizedMatrix m = Quantize(w, p.rows, p.cols, p.format, p.group_size);
  const int64_t g = p.group_size == 0 ? p.cols : p.group_size;
  const Reference ref = QuantizeByFormula(w, p.rows, p.cols, p.format, g);
  ASSERT_EQ(m.scales.size(), 2 * ref.scale.size());
  for (size_t i = 0; i < ref.scale.size(); ++i) ASSERT_EQ(HalfAt(m, i), ref.scale[i]) << i;
  const std::vector<int> q =
      p.format == WeightFormat::kInt8PerChannel ? Int8Values(m) : Int4Values(m);
  EXPECT_EQ(q, ref.q);
  EXPECT_EQ(std::vector<int>(m.zero_points.begin(), m.zero_points.end()), ref.zero);
}

// |w - w'| <= s / 2, plus slack for the f16 rounding of the scale (the
// grid spans 15 s, which may fall short of mx - mn by 15 s * 2^-11), and
// for the fp32 rounding of w / s and s * q (a few ulps of w).
TEST_P(WeightQuantizerFormulaTest, RoundTripErrorIsHalfAStep) {
  const FormatCase p = GetParam();
  const std::vector<float> w = RandomWeights(p.rows, p.cols, 8, kNormalScaleMagnitudes);
  const QuantizedMatrix m = Quantize(w, p.rows, p.cols, p.format, p.group_size);
  const std::vector<float> back = DequantizeWeight(m);
  const int64_t groups = m.GroupsPerRow();
  for (int64_t r = 0; r < p.rows; ++r) {
    for (int64_t c = 0; c < p.cols; ++c) {
      const int64_t i = r * p.cols + c;
      const float s = HalfAt(m, r * groups + c / m.group_size);
      const double slack =
          (p.format == WeightFormat::kInt4Grouped ? 16.0 : 1.0) * std::ldexp(s, -11) +
          std::ldexp(std::fabs(w[i]), -21) + std::ldexp(1.0, -40);
      ASSERT_LE(std::fabs(static_cast<double>(w[i]) - back[i]), s / 2.0 + slack)
          << "row " << r << " column " << c << ": " << w[i] << " -> " << back[i];
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Formats, WeightQuantizerFormulaTest,
    ::testing::Values(FormatCase{WeightFormat::kInt8PerChannel, 29, 77, 0},  // ragged lanes
                      FormatCase{WeightFormat::kInt8PerChannel, 14, 512, 512},
                      FormatCase{WeightFormat::kInt4Grouped, 21, 256, 128},
                      FormatCase{WeightFormat::kInt4Grouped, 35, 90, 6},  // groups off the lanes
                      FormatCase{WeightFormat::kInt4Grouped, 7, 40, 40}));

// Rows split over 1, 3 and 8 threads give the same bytes (the matrix is big
// enough for the quantizer to use several).
TEST(WeightQuantizerTest, BytesDoNotDependOnThreadCount) {
  const int64_t rows = 96, cols = 1 << 17;
  const std::vector<float> w = RandomWeights(rows, cols, 9);
  for (WeightFormat format : {WeightFormat::kInt8PerChannel, WeightFormat::kInt4Grouped}) {
    const int64_t g = format == WeightFormat::kInt4Grouped ? 128 : 0;
    const QuantizedMatrix one = Quantize(w, rows, cols, format, g, DType::kF16, 1);
    for (int threads : {3, 8}) {
      const QuantizedMatrix many = Quantize(w, rows, cols, format, g, DType::kF16, threads);
      EXPECT_EQ(one.values, many.values) << threads;
      EXPECT_EQ(one.scales, many.scales) << threads;
      EXPECT_EQ(one.zero_points, many.zero_points) << threads;
    }
  }
}

// ---- Errors ----

TEST(WeightQuantizerTest, NonFiniteValueIsNamedByRowAndColumn) {
  std::vector<float> w(4 * 8, 0.5f);
  w[2 * 8 + 5] = std::numeric_limits<float>::quiet_NaN();
  w[3 * 8 + 1] = std::numeric_limits<float>::infinity();
  for (WeightFormat format : {WeightFormat::kInt8PerChannel, WeightFormat::kInt4Grouped}) {
    const int64_t g = format == WeightFormat::kInt4Grouped ? 4 : 0;
    const absl::StatusOr<QuantizedMatrix> m =
        QuantizeWeight(w, 4, 8, format, g, DType::kF16, "h.0.mlp.dense_h_to_4h.weight");
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(m.status().message()),
                HasSubstr("h.0.mlp.dense_h_to_4h.weight: value nan at row 2, column 5"));
  }
  w[2 * 8 + 5] = 0.0f;
  const absl::StatusOr<QuantizedMatrix> m =
      QuantizeWeight(w, 4, 8, WeightFormat::kInt4Grouped, 4, DType::kF16, "w");
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("value inf at row 3, column 1"));
}

// Across threads the first bad value in row order is the one reported.
TEST(WeightQuantizerTest, FirstNonFiniteValueIsReportedWhateverTheThreads) {
  const int64_t rows = 64, cols = 1 << 17;
  std::vector<float> w(rows * cols, 1.0f);
  w[60 * cols + 3] = -std::numeric_limits<float>::infinity();
  w[40 * cols + 7] = std::numeric_limits<float>::quiet_NaN();
  for (int threads : {1, 4}) {
    const absl::StatusOr<QuantizedMatrix> m =
        QuantizeWeight(w, rows, cols, WeightFormat::kInt8PerChannel, 0, DType::kF16, "w", threads);
    ASSERT_FALSE(m.ok());
    EXPECT_THAT(std::string(m.status().message()), HasSubstr("row 40, column 7")) << threads;
  }
}

void ExpectShapeError(absl::Span<const float> w, int64_t rows, int64_t cols, WeightFormat format,
                      int64_t group_size, DType scale_dtype, const std::string& message) {
  const absl::StatusOr<QuantizedMatrix> m =
      QuantizeWeight(w, rows, cols, format, group_size, scale_dtype, "lm_head");
  ASSERT_FALSE(m.ok()) << message;
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("lm_head: " + message));
}

TEST(WeightQuantizerTest, ShapeErrorsNameTheWeight) {
  const std::vector<float> w(24, 1.0f);
  const auto kInt8 = WeightFormat::kInt8PerChannel;
  const auto kInt4 = WeightFormat::kInt4Grouped;
  ExpectShapeError({}, 0, 4, kInt8, 0, DType::kF16, "cannot quantize a [0, 4] weight");
  ExpectShapeError({}, 3, 0, kInt4, 2, DType::kF16, "cannot quantize a [3, 0] weight");
  ExpectShapeError(w, 4, 5, kInt8, 0, DType::kF16, "24 values do not make a [4, 5] weight");
  ExpectShapeError(w, 4, 6, kInt8, 3, DType::kF16, "int8 is per output channel");
  ExpectShapeError(w, 4, 6, kInt8, 0, DType::kI8, "scales must be F16, BF16 or F32, got I8");
  ExpectShapeError(w, 8, 3, kInt4, 3, DType::kF16, "int4 needs an even column count");
  ExpectShapeError(w, 2, 12, kInt4, 3, DType::kF16, "int4 group size 3 must be even");
  ExpectShapeError(w, 2, 12, kInt4, 8, DType::kF16, "int4 group size 8 must be even");
  ExpectShapeError(w, 2, 12, kInt4, 0, DType::kF16, "int4 group size 0 must be even");
}

TEST(WeightQuantizerTest, IntoChecksTheBufferSizes) {
  const std::vector<float> w(2 * 8, 1.0f);
  std::vector<uint8_t> values(8), scales(2 * 2 * 2);
  std::vector<int8_t> zeros(4);
  EXPECT_TRUE(QuantizeWeightInto(w, 2, 8, WeightFormat::kInt4Grouped, 4, DType::kF16,
                                 absl::MakeSpan(values), absl::MakeSpan(scales),
                                 absl::MakeSpan(zeros), "w")
                  .ok());
  const absl::Status status = QuantizeWeightInto(
      w, 2, 8, WeightFormat::kInt4Grouped, 4, DType::kF16, absl::MakeSpan(values).subspan(1),
      absl::MakeSpan(scales), absl::MakeSpan(zeros), "w");
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("w: the values buffer holds 7 bytes, not 8"));
  // int8 is symmetric: a zero-point buffer is a caller's mistake.
  std::vector<uint8_t> int8_values(16);
  const absl::Status int8_zeros = QuantizeWeightInto(
      w, 2, 8, WeightFormat::kInt8PerChannel, 0, DType::kF16, absl::MakeSpan(int8_values),
      absl::MakeSpan(scales).subspan(0, 4), absl::MakeSpan(zeros), "w");
  EXPECT_THAT(std::string(int8_zeros.message()),
              HasSubstr("the zero points buffer holds 4 bytes, not 0"));
}

}  // namespace
}  // namespace bloom
