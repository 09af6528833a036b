// Linear (y = x · Wᵀ + b, W in PyTorch's [out, in] layout) against a naive
// triple loop in double, on shapes that hit every edge of the kernel's
// blocking: ragged register tiles, several column panels, several depth
// slices.
#include <cmath>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/linear.h"
#include "test/unit/kernels/random_fill.h"

namespace bloom::cpu {
namespace {

using testing::RandomFloats;

struct LinearCase {
  int64_t rows, in_features, out_features;
  bool with_bias;
};

class LinearTest : public ::testing::TestWithParam<LinearCase> {};

TEST_P(LinearTest, MatchesNaiveDoubleReference) {
  const LinearCase p = GetParam();
  const std::vector<float> x = RandomFloats(p.rows * p.in_features, 21);
  const std::vector<float> weight = RandomFloats(p.out_features * p.in_features, 22);
  const std::vector<float> bias = RandomFloats(p.out_features, 23);
  std::vector<float> y(p.rows * p.out_features, NAN);
  Linear(x.data(), weight.data(), p.with_bias ? bias.data() : nullptr, p.rows,
         p.in_features, p.out_features, y.data());

  for (int64_t r = 0; r < p.rows; ++r) {
    for (int64_t o = 0; o < p.out_features; ++o) {
      double expected = p.with_bias ? bias[o] : 0.0;
      double magnitude = p.with_bias ? std::fabs(bias[o]) : 0.0;
      for (int64_t i = 0; i < p.in_features; ++i) {
        const double term = static_cast<double>(x[r * p.in_features + i]) *
                            weight[o * p.in_features + i];
        expected += term;
        magnitude += std::fabs(term);
      }
      // Standard bound for a float sum of n + 1 products in any order:
      // |error| <= (n + 1) * 2^-24 * sum |terms| (to first order).
      const double tolerance = (p.in_features + 2) * std::ldexp(1.0, -24) * magnitude;
      ASSERT_NEAR(y[r * p.out_features + o], expected, tolerance)
          << "row " << r << " output " << o;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, LinearTest,
    ::testing::Values(LinearCase{7, 13, 11, true},     // odd, smaller than a tile
                      LinearCase{1, 37, 5, true},      // one row (decode)
                      LinearCase{9, 300, 70, true},    // 2 depth slices, 2 panels
                      LinearCase{6, 513, 131, false},  // no bias, ragged everywhere
                      LinearCase{4, 3, 1, false},      // depth below the lane width
                      LinearCase{3, 0, 5, true}));     // empty sum: y = bias

}  // namespace
}  // namespace bloom::cpu
