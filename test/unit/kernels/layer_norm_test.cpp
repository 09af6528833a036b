// LayerNorm against a direct double-precision transcription of
// torch.nn.LayerNorm (biased variance, epsilon inside the square root).
#include <cmath>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/layer_norm.h"
#include "test/unit/kernels/random_fill.h"

namespace bloom::cpu {
namespace {

using testing::RandomFloats;

std::vector<double> ReferenceLayerNorm(const std::vector<float>& x,
                                       const std::vector<float>& gamma,
                                       const std::vector<float>& beta, int64_t rows,
                                       int64_t cols, double epsilon) {
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0.0;
    for (int64_t c = 0; c < cols; ++c) mean += x[r * cols + c];
    mean /= cols;
    double variance = 0.0;
    for (int64_t c = 0; c < cols; ++c) {
      variance += (x[r * cols + c] - mean) * (x[r * cols + c] - mean);
    }
    variance /= cols;
    for (int64_t c = 0; c < cols; ++c) {
      y[r * cols + c] =
          (x[r * cols + c] - mean) / std::sqrt(variance + epsilon) * gamma[c] + beta[c];
    }
  }
  return y;
}

void ExpectMatchesReference(const std::vector<float>& x, int64_t rows, int64_t cols,
                            float epsilon) {
  const std::vector<float> gamma = RandomFloats(cols, 11, 0.5f, 1.5f);
  const std::vector<float> beta = RandomFloats(cols, 12, -0.5f, 0.5f);
  std::vector<float> y(rows * cols, NAN);
  LayerNorm(x.data(), gamma.data(), beta.data(), rows, cols, epsilon, y.data());
  const std::vector<double> expected = ReferenceLayerNorm(x, gamma, beta, rows, cols, epsilon);
  for (int64_t i = 0; i < rows * cols; ++i) {
    // Normalised values are O(sqrt(cols)) at most; the kernel rounds the
    // normalised value, the product with gamma and the sum with beta to
    // float (three roundings of 2^-24 relative each), so 1e-6 relative to
    // the terms' magnitude plus a tiny absolute slack covers it.
    const int64_t c = i % cols;
    const double magnitude = std::fabs(expected[i] - beta[c]) + std::fabs(beta[c]);
    EXPECT_NEAR(y[i], expected[i], 1e-6 * magnitude + 1e-7) << "row " << i / cols << " col " << c;
  }
}

TEST(LayerNormTest, MatchesReferenceOnOddShape) {
  const int64_t rows = 7, cols = 13;
  ExpectMatchesReference(RandomFloats(rows * cols, 10, -3.0f, 3.0f), rows, cols, 1e-5f);
}

TEST(LayerNormTest, LargeCommonOffsetDoesNotCancel) {
  // Rows of 1000 + small noise: a one-pass E[x^2] - E[x]^2 in float loses
  // every digit of the variance here; a two-pass computation does not.
  const int64_t rows = 5, cols = 129;
  std::vector<float> x = RandomFloats(rows * cols, 13, -0.01f, 0.01f);
  for (float& v : x) v += 1000.0f;
  ExpectMatchesReference(x, rows, cols, 1e-5f);
}

TEST(LayerNormTest, ConstantRowGivesBetaAndEpsilonMatters) {
  // Hand-derived: a constant row has zero deviation, so y = beta exactly.
  // For the row (1, -1): mean 0, variance 1, so y = ±1/sqrt(1 + eps).
  const std::vector<float> x = {4.0f, 4.0f, 1.0f, -1.0f};
  const std::vector<float> gamma = {2.0f, 3.0f};
  const std::vector<float> beta = {0.25f, -0.5f};
  std::vector<float> y(4);
  LayerNorm(x.data(), gamma.data(), beta.data(), 2, 2, 0.25f, y.data());
  EXPECT_EQ(y[0], 0.25f);
  EXPECT_EQ(y[1], -0.5f);
  EXPECT_FLOAT_EQ(y[2], 2.0f / std::sqrt(1.25f) + 0.25f);
  EXPECT_FLOAT_EQ(y[3], -3.0f / std::sqrt(1.25f) - 0.5f);
}

TEST(LayerNormTest, InPlace) {
  const int64_t rows = 3, cols = 7;
  std::vector<float> x = RandomFloats(rows * cols, 14);
  const std::vector<float> gamma(cols, 1.0f), beta(cols, 0.0f);
  std::vector<float> out_of_place(rows * cols);
  LayerNorm(x.data(), gamma.data(), beta.data(), rows, cols, 1e-5f, out_of_place.data());
  LayerNorm(x.data(), gamma.data(), beta.data(), rows, cols, 1e-5f, x.data());
  EXPECT_EQ(x, out_of_place);
}

}  // namespace
}  // namespace bloom::cpu
