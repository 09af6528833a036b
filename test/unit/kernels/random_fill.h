// Deterministic random inputs for the kernel tests: a fixed seed per call
// site makes every failure reproducible.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace bloom::cpu::testing {

inline std::vector<float> RandomFloats(size_t count, uint32_t seed, float low = -1.0f,
                                       float high = 1.0f) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> distribution(low, high);
  std::vector<float> values(count);
  for (float& v : values) v = distribution(generator);
  return values;
}

inline std::vector<int32_t> RandomIndices(size_t count, int32_t bound, uint32_t seed) {
  std::mt19937 generator(seed);
  std::uniform_int_distribution<int32_t> distribution(0, bound - 1);
  std::vector<int32_t> values(count);
  for (int32_t& v : values) v = distribution(generator);
  return values;
}

}  // namespace bloom::cpu::testing
