// Deterministic pseudo-random tensor values addressed by (key, element
// index): every element can be computed on its own, so any thread can fill
// any chunk in any order and the checkpoint's bytes do not depend on the
// number of threads or the chunk size. The generator is SplitMix64 used as a
// counter-based hash; it is fast (a few multiplies per element) and
// statistically plenty for benchmark weights, not for cryptography.
//
// make-synthetic-checkpoint writes these values; a layout-only checkpoint
// records the seed and distributions instead (generated_weights.h), and the
// readers regenerate exactly the bytes a full write stores.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/types/span.h"
namespace bloom {

// How a tensor's values are drawn: mean + stddev * z, z approximately
// standard normal (ApproxStandardNormal).
struct ValueDistribution {
  float mean = 0.0f;
  float stddev = 0.0f;
};

// SplitMix64's output function applied to `x`.
uint64_t Mix64(uint64_t x);

// The stream of one tensor: its name hashed together with the seed, so
// tensors get independent values and a checkpoint is reproducible from its
// seed.
uint64_t TensorStreamKey(uint64_t seed, std::string_view tensor_name);

// An approximately standard normal value from 64 random bits: the sum of
// four 16-bit uniforms (Irwin-Hall, n = 4) rescaled to mean 0, variance 1.
// Bounded by ±2·√3, which keeps synthetic weights free of outliers.
float ApproxStandardNormal(uint64_t bits);

// out[i] = mean + stddev * z(key, first + i) for i < out.size().
void FillValues(uint64_t key, int64_t first, const ValueDistribution& distribution,
                absl::Span<float> out);

}  // namespace bloom
