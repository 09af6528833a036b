// Tests of the CPU kernels that move or combine elements independently:
// Add, GeluTanh, EmbeddingGather, GatherRows.
#include <cmath>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/add.h"
#include "kernels/cpu/embedding.h"
#include "kernels/cpu/gather_rows.h"
#include "kernels/cpu/gelu.h"
#include "test/unit/kernels/random_fill.h"

namespace bloom::cpu {
namespace {

using testing::RandomFloats;
using testing::RandomIndices;

TEST(AddTest, MatchesDoubleSumExactly) {
  // The exact sum of two floats rounded once to float equals float addition;
  // a double holds it with 53 >= 2*24+2 bits, so rounding the double sum to
  // float cannot differ: equality is exact.
  const int64_t count = 7 * 13;
  const std::vector<float> a = RandomFloats(count, 1, -100.0f, 100.0f);
  const std::vector<float> b = RandomFloats(count, 2, -1.0f, 1.0f);
  std::vector<float> out(count, NAN);
  Add(a.data(), b.data(), count, out.data());
  for (int64_t i = 0; i < count; ++i) {
    EXPECT_EQ(out[i], static_cast<float>(static_cast<double>(a[i]) + b[i])) << i;
  }
}

TEST(AddTest, WorksInPlace) {
  std::vector<float> a = {1.5f, -2.0f, 3.25f};
  const std::vector<float> b = {0.5f, 2.0f, -0.25f};
  Add(a.data(), b.data(), 3, a.data());
  EXPECT_EQ(a, (std::vector<float>{2.0f, 0.0f, 3.0f}));
}

double ReferenceGelu(double x) {
  return x * 0.5 * (1.0 + std::tanh(0.79788456 * x * (1.0 + 0.044715 * x * x)));
}

TEST(GeluTanhTest, MatchesDoubleFormula) {
  const int64_t count = 7 * 13 + 1000;
  const std::vector<float> x = RandomFloats(count, 3, -6.0f, 6.0f);
  std::vector<float> y(count, NAN);
  GeluTanh(x.data(), count, y.data());
  for (int64_t i = 0; i < count; ++i) {
    // The float evaluation rounds ~6 times (each <= 2^-24 relative) and
    // float tanh is within a couple of ulps; near the zero of (1 + tanh) for
    // negative x the absolute error is what stays bounded, so allow
    // 1e-6 absolute plus 1e-5 relative.
    const double expected = ReferenceGelu(x[i]);
    EXPECT_NEAR(y[i], expected, 1e-6 + 1e-5 * std::fabs(expected)) << "x=" << x[i];
  }
}

TEST(GeluTanhTest, HandDerivedValues) {
  // gelu(0) = 0; far right it is the identity, far left it vanishes.
  // gelu(1) = 0.5 * (1 + tanh(0.79788456 * 1.044715)) = 0.8411920 (by hand
  // with tanh(0.8335620) = 0.6823840).
  const std::vector<float> x = {0.0f, 10.0f, -10.0f, 1.0f};
  std::vector<float> y(x.size());
  GeluTanh(x.data(), static_cast<int64_t>(x.size()), y.data());
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_FLOAT_EQ(y[1], 10.0f);
  EXPECT_NEAR(y[2], 0.0f, 1e-6);
  EXPECT_NEAR(y[3], 0.8411920f, 2e-6);
}

TEST(EmbeddingGatherTest, CopiesTableRows) {
  const int64_t vocab = 11, hidden = 13, num_tokens = 7;
  const std::vector<float> table = RandomFloats(vocab * hidden, 4);
  std::vector<int32_t> ids = RandomIndices(num_tokens, vocab, 5);
  ids[0] = 0;                 // first and last rows of the table
  ids[1] = vocab - 1;
  std::vector<float> out(num_tokens * hidden, NAN);
  EmbeddingGather(ids.data(), num_tokens, table.data(), vocab, hidden, out.data());
  for (int64_t t = 0; t < num_tokens; ++t) {
    for (int64_t c = 0; c < hidden; ++c) {
      ASSERT_EQ(out[t * hidden + c], table[ids[t] * hidden + c]) << t << "," << c;
    }
  }
}

TEST(GatherRowsTest, SelectsRowsInOrderWithRepeats) {
  const int64_t rows = 9, cols = 13;
  const std::vector<float> x = RandomFloats(rows * cols, 6);
  const std::vector<int32_t> indices = {8, 0, 3, 3, 5};
  const int64_t num_rows = static_cast<int64_t>(indices.size());
  std::vector<float> y(num_rows * cols, NAN);
  GatherRows(x.data(), cols, indices.data(), num_rows, y.data());
  for (int64_t r = 0; r < num_rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      ASSERT_EQ(y[r * cols + c], x[indices[r] * cols + c]) << r << "," << c;
    }
  }
}

}  // namespace
}  // namespace bloom::cpu
