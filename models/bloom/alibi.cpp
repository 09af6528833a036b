#include "models/bloom/alibi.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace bloom::model {
namespace {

// transformers builds each base in Python double, turns it into a float32
// tensor, and raises it with torch.pow(float32, int32). We round the base to
// float first as well, then take the power in double and round once, i.e.
// the correctly rounded float32 of base_f32^p. torch's CPU pow (a vectorised
// powf with 1-ulp accuracy) is not always correctly rounded: checked against
// transformers 5.17 / torch 2.11 on CPU for 18 head counts from 1 to 128,
// all slopes agree except 4 that differ by 1 ulp (e.g. 2^-3.75 for 32
// heads). A golden comparison must therefore allow 1 ulp.
// Bases: 2^-(2^-(log2(n) - 3)) = 2^(-8/n) for a power of two n.
float RoundedBase(int64_t power_of_two) {
  return static_cast<float>(std::exp2(-8.0 / static_cast<double>(power_of_two)));
}

float Power(float base, int64_t exponent) {
  return static_cast<float>(std::pow(static_cast<double>(base), static_cast<double>(exponent)));
}

}  // namespace

std::vector<float> AlibiSlopes(int num_heads) {
  if (num_heads < 1) return {};  // precondition violated; nothing to return
  // Largest power of two <= num_heads, i.e. 2^floor(log2(num_heads)).
  int64_t closest = 1;
  while (closest * 2 <= num_heads) closest *= 2;

  std::vector<float> slopes;
  slopes.reserve(static_cast<size_t>(num_heads));
  const float base = RoundedBase(closest);
  for (int64_t p = 1; p <= closest; ++p) slopes.push_back(Power(base, p));

  if (closest != num_heads) {
    // The heads past the power of two interleave between the first ones:
    // the odd powers of the base of twice as many heads.
    const float extra_base = RoundedBase(2 * closest);
    const int64_t remaining = std::min<int64_t>(closest, num_heads - closest);
    for (int64_t i = 0; i < remaining; ++i) slopes.push_back(Power(extra_base, 2 * i + 1));
  }
  return slopes;
}

}  // namespace bloom::model
