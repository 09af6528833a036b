#include "runtime/checkpoint/synthetic_values.h"

#include <cmath>

namespace bloom {
namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

}  // namespace

uint64_t Mix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t TensorStreamKey(uint64_t seed, std::string_view tensor_name) {
  // FNV-1a over the name, then mixed with the seed.
  uint64_t hash = 0xCBF29CE484222325ull;
  for (unsigned char c : tensor_name) {
    hash ^= c;
    hash *= 0x100000001B3ull;
  }
  return Mix64(hash ^ Mix64(seed + kGolden));
}

float ApproxStandardNormal(uint64_t bits) {
  // Each 16-bit field is a uniform on (0, 1) at the centre of its bucket;
  // the sum of four has mean 2 and variance 4/12.
  constexpr float kScale = 1.0f / 65536.0f;
  float sum = 0.0f;
  for (int field = 0; field < 4; ++field) {
    sum += (static_cast<float>((bits >> (16 * field)) & 0xFFFFu) + 0.5f) * kScale;
  }
  static const float kUnitVariance = std::sqrt(3.0f);
  return (sum - 2.0f) * kUnitVariance;
}

void FillValues(uint64_t key, int64_t first, const ValueDistribution& distribution,
                absl::Span<float> out) {
  // SplitMix64's state after n steps is key + n * golden: element i is the
  // (first + i + 1)-th output of the generator seeded with `key`.
  uint64_t state = key + static_cast<uint64_t>(first) * kGolden;
  for (float& value : out) {
    state += kGolden;
    value = distribution.mean + distribution.stddev * ApproxStandardNormal(Mix64(state));
  }
}

}  // namespace bloom
