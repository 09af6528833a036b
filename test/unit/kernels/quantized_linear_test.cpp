// The dequantizing CPU kernels (kernels/cpu/quantized_linear.h): rows
// dequantized against values worked by hand from w' = scale * (q - zero),
// and on random quantized weights against that formula evaluated here from
// the raw bytes; QuantizedLinear bit for bit against cpu::Linear on the
// whole dequantized matrix; the embedding lookup at a shard's edges.
#include "kernels/cpu/quantized_linear.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/linear.h"
#include "runtime/support/dtype.h"
#include "runtime/support/packed_int4.h"
#include "runtime/support/weight_quantizer.h"
#include "test/unit/kernels/random_fill.h"

namespace bloom::cpu {
namespace {

using testing::RandomFloats;

QuantizedWeightView View(QuantizedValues type, const void* values, const float* scales,
                         const int8_t* zero_points, int64_t rows, int64_t cols,
                         int64_t group_size) {
  return {type, values, scales, zero_points, rows, cols, group_size};
}

std::vector<float> Dequantize(const QuantizedWeightView& w, int64_t begin, int64_t end) {
  std::vector<float> out((end - begin) * w.cols, NAN);
  DequantizeRows(w, begin, end, out.data());
  return out;
}

// Two rows of four, one scale a row: 0.5 * (-127, 0, 5, 127) and
// 3 * (1, -2, 3, -4).
TEST(DequantizeRowsTest, Int8PerChannelByHand) {
  const int8_t q[] = {-127, 0, 5, 127, 1, -2, 3, -4};
  const float scales[] = {0.5f, 3.0f};
  const QuantizedWeightView w = View(QuantizedValues::kInt8, q, scales, nullptr, 2, 4, 4);
  EXPECT_EQ(Dequantize(w, 0, 2),
            (std::vector<float>{-63.5f, 0.0f, 2.5f, 63.5f, 3.0f, -6.0f, 9.0f, -12.0f}));
  EXPECT_EQ(Dequantize(w, 1, 2), (std::vector<float>{3.0f, -6.0f, 9.0f, -12.0f}));
  EXPECT_TRUE(Dequantize(w, 1, 1).empty());
}

// The view also takes int8 with zero points and groups (no stored format
// uses them yet): groups of 2, zero points 1 and -2.
TEST(DequantizeRowsTest, Int8WithZeroPointsByHand) {
  const int8_t q[] = {3, -1, 0, 5};
  const float scales[] = {0.25f, 2.0f};
  const int8_t zeros[] = {1, -2};
  const QuantizedWeightView w = View(QuantizedValues::kInt8, q, scales, zeros, 1, 4, 2);
  // 0.25 * (3 - 1), 0.25 * (-1 - 1), 2 * (0 + 2), 2 * (5 + 2).
  EXPECT_EQ(Dequantize(w, 0, 1), (std::vector<float>{0.5f, -0.5f, 4.0f, 14.0f}));
}

// Rows of 12 in groups of 6: a group is 3 bytes, so the second group
// starts at byte 3, off every 2- and 4-byte boundary. Nibbles, low first:
//   row 0, group 0: q = -8, 7, -1, 0, 3, -5 -> bytes 0x78, 0x0F, 0xB3;
//          scale 0.25, zero -3: 0.25 * (q + 3) = -1.25, 2.5, 0.5, 0.75, 1.5, -0.5
//   row 0, group 1: q = 1, -2, 6, -7, 2, -3 -> bytes 0xE1, 0x96, 0xD2;
//          scale 2, zero 4: 2 * (q - 4) = -6, -12, 4, -22, -4, -14
//   row 1, group 0: bytes 0x00, 0x88, 0x7F -> q = 0, 0, -8, -8, -1, 7;
//          scale 1, zero 0
//   row 1, group 1: bytes 0x12, 0x34, 0xF0 -> q = 2, 1, 4, 3, 0, -1;
//          scale 0.5, zero -8: 0.5 * (q + 8) = 5, 4.5, 6, 5.5, 4, 3.5
TEST(DequantizeRowsTest, Int4GroupsByHand) {
  const uint8_t bytes[] = {0x78, 0x0F, 0xB3, 0xE1, 0x96, 0xD2, 0x00, 0x88, 0x7F, 0x12, 0x34, 0xF0};
  const float scales[] = {0.25f, 2.0f, 1.0f, 0.5f};
  const int8_t zeros[] = {-3, 4, 0, -8};
  const QuantizedWeightView w = View(QuantizedValues::kInt4, bytes, scales, zeros, 2, 12, 6);
  const std::vector<float> row0 = {-1.25f, 2.5f,   0.5f, 0.75f,  1.5f,  -0.5f,
                                   -6.0f,  -12.0f, 4.0f, -22.0f, -4.0f, -14.0f};
  const std::vector<float> row1 = {0.0f, 0.0f, -8.0f, -8.0f, -1.0f, 7.0f,
                                   5.0f, 4.5f, 6.0f,  5.5f,  4.0f,  3.5f};
  EXPECT_EQ(Dequantize(w, 0, 1), row0);
  EXPECT_EQ(Dequantize(w, 1, 2), row1);
  std::vector<float> both = row0;
  both.insert(both.end(), row1.begin(), row1.end());
  EXPECT_EQ(Dequantize(w, 0, 2), both);
}

// Every byte value, decoded with scale 1 and no zero point, gives the two
// nibbles packed_int4.h's Int4At reads from it.
TEST(DequantizeRowsTest, Int4NibblesAsPackedInt4Says) {
  std::vector<uint8_t> bytes(256);
  for (int b = 0; b < 256; ++b) bytes[b] = static_cast<uint8_t>(b);
  const float scale = 1.0f;
  const QuantizedWeightView w =
      View(QuantizedValues::kInt4, bytes.data(), &scale, nullptr, 1, 512, 512);
  const std::vector<float> out = Dequantize(w, 0, 1);
  for (int i = 0; i < 512; ++i) ASSERT_EQ(out[i], Int4At(bytes.data(), i)) << i;
}

// ---- Random quantized weights (built with the quantizer) ----

// A quantized weight and the view the CPU backend would make of it: the
// values' and zero points' bytes as stored, the scales widened to fp32.
struct Quantized {
  QuantizedMatrix matrix;
  std::vector<float> scales;

  QuantizedWeightView View() const {
    return {matrix.format == WeightFormat::kInt8PerChannel ? QuantizedValues::kInt8
                                                           : QuantizedValues::kInt4,
            matrix.values.data(),
            scales.data(),
            matrix.zero_points.empty() ? nullptr : matrix.zero_points.data(),
            matrix.rows,
            matrix.cols,
            matrix.group_size};
  }
};

Quantized RandomQuantized(int64_t rows, int64_t cols, WeightFormat format, int64_t group_size,
                          uint32_t seed) {
  const std::vector<float> w = RandomFloats(rows * cols, seed, -0.3f, 0.5f);
  absl::StatusOr<QuantizedMatrix> m =
      QuantizeWeight(w, rows, cols, format, group_size, DType::kF16, "w");
  EXPECT_TRUE(m.ok()) << m.status();
  Quantized q{*std::move(m), {}};
  q.scales.resize(q.matrix.scales.size() / 2);
  ConvertToFloat32(DType::kF16, q.matrix.scales.data(), q.scales.data(), q.scales.size());
  return q;
}

// w'[r][c] from the stored bytes by the formula, one element at a time.
float FormulaValue(const Quantized& q, int64_t r, int64_t c) {
  const QuantizedMatrix& m = q.matrix;
  const int64_t index = r * m.cols + c;
  const int64_t group = r * (m.cols / m.group_size) + c / m.group_size;
  const int value = m.format == WeightFormat::kInt8PerChannel ? static_cast<int8_t>(m.values[index])
                                                              : Int4At(m.values.data(), index);
  const int zero = m.zero_points.empty() ? 0 : m.zero_points[group];
  return q.scales[group] * static_cast<float>(value - zero);
}

struct ShapeCase {
  WeightFormat format;
  int64_t x_rows, rows, cols, group_size;
  bool with_bias;
};

class QuantizedLinearTest : public ::testing::TestWithParam<ShapeCase> {};

TEST_P(QuantizedLinearTest, DequantizesByTheFormula) {
  const ShapeCase p = GetParam();
  const Quantized q = RandomQuantized(p.rows, p.cols, p.format, p.group_size, 31);
  const int64_t begin = p.rows / 3, end = p.rows - p.rows / 4;
  const std::vector<float> out = Dequantize(q.View(), begin, end);
  for (int64_t r = begin; r < end; ++r) {
    for (int64_t c = 0; c < p.cols; ++c) {
      ASSERT_EQ(out[(r - begin) * p.cols + c], FormulaValue(q, r, c))
          << "row " << r << " column " << c;
    }
  }
}

TEST_P(QuantizedLinearTest, MatchesLinearOnTheDequantizedWeightBitForBit) {
  const ShapeCase p = GetParam();
  const Quantized q = RandomQuantized(p.rows, p.cols, p.format, p.group_size, 32);
  const std::vector<float> x = RandomFloats(p.x_rows * p.cols, 33);
  const std::vector<float> bias = RandomFloats(p.rows, 34);
  const float* b = p.with_bias ? bias.data() : nullptr;

  const std::vector<float> weight = Dequantize(q.View(), 0, p.rows);
  std::vector<float> expected(p.x_rows * p.rows, NAN);
  Linear(x.data(), weight.data(), b, p.x_rows, p.cols, p.rows, expected.data());

  std::vector<float> y(p.x_rows * p.rows, NAN);
  QuantizedLinear(x.data(), q.View(), b, p.x_rows, y.data());
  // (memcmp of zero rows would pass null pointers: undefined even for 0 bytes.)
  if (!y.empty()) {
    ASSERT_EQ(std::memcmp(y.data(), expected.data(), y.size() * sizeof(float)), 0);
  }
  // Not vacuous: the outputs (if any) are not all the bias (or zero).
  bool any_weight_term = p.x_rows == 0;
  for (int64_t i = 0; i < p.x_rows * p.rows; ++i) {
    any_weight_term |= y[i] != (b != nullptr ? b[i % p.rows] : 0.0f);
  }
  EXPECT_TRUE(any_weight_term);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, QuantizedLinearTest,
    ::testing::Values(
        ShapeCase{WeightFormat::kInt8PerChannel, 1, 5, 12, 0, true},      // one block, decode
        ShapeCase{WeightFormat::kInt4Grouped, 3, 70, 300, 6, true},       // 2 blocks, odd groups
        ShapeCase{WeightFormat::kInt4Grouped, 7, 131, 4096, 128, false},  // 3 blocks, ragged
        ShapeCase{WeightFormat::kInt4Grouped, 17, 33, 20000, 8, true},    // 13-row blocks
        ShapeCase{WeightFormat::kInt8PerChannel, 2, 9, 70000, 0, false},  // 4-row blocks
        ShapeCase{WeightFormat::kInt8PerChannel, 0, 6, 16, 0, true}));    // no x rows

// A vocab-parallel shard of rows [100, 110): ids 100 and 109 are its
// first and last rows, 99 and 110 just outside it (zero rows), as are 0, a
// negative id and INT32_MAX.
TEST(QuantizedEmbeddingGatherTest, ShardRowsAndZerosOutside) {
  const int64_t rows = 10, cols = 8;
  const Quantized q = RandomQuantized(rows, cols, WeightFormat::kInt4Grouped, 4, 35);
  const std::vector<int32_t> ids = {100, 109, 99, 110, 0, -1, 105, INT32_MAX, 109};
  std::vector<float> out(ids.size() * cols, NAN);
  QuantizedEmbeddingGather(ids.data(), ids.size(), q.View(), 100, out.data());
  for (size_t t = 0; t < ids.size(); ++t) {
    const int64_t row = static_cast<int64_t>(ids[t]) - 100;
    const bool inside = row >= 0 && row < rows;
    for (int64_t c = 0; c < cols; ++c) {
      ASSERT_EQ(out[t * cols + c], inside ? FormulaValue(q, row, c) : 0.0f)
          << "token " << t << " (id " << ids[t] << ") column " << c;
    }
  }
}

TEST(QuantizedEmbeddingGatherTest, WholeInt8Table) {
  const int64_t rows = 5, cols = 6;
  const Quantized q = RandomQuantized(rows, cols, WeightFormat::kInt8PerChannel, 0, 36);
  const std::vector<int32_t> ids = {4, 0, 2, 2};
  std::vector<float> out(ids.size() * cols, NAN);
  QuantizedEmbeddingGather(ids.data(), ids.size(), q.View(), 0, out.data());
  for (size_t t = 0; t < ids.size(); ++t) {
    for (int64_t c = 0; c < cols; ++c) {
      ASSERT_EQ(out[t * cols + c], FormulaValue(q, ids[t], c)) << t << ", " << c;
    }
  }
}

}  // namespace
}  // namespace bloom::cpu
