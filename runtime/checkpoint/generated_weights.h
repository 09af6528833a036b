// Generated weights: a safetensors file whose header says its values come
// from synthetic_values.h's generator instead of its data section.
//
// make-synthetic-checkpoint --layout-only writes such files: full-sized
// (sparse) files whose headers carry, in "__metadata__",
//
//   "bloom.generator": "splitmix64-irwin-hall-4"   the generator, by name
//   "bloom.seed":      "<unsigned decimal>"        the checkpoint's seed
//   "bloom.values.<tensor>": "<mean> <stddev>"     one per tensor (floats
//                                                  printed to round-trip)
//
// Every reader of weights (both executors, bloom-compile's packing and disk
// units) reads such a file's tensors from the generator, each element
// rounded through the stored dtype: exactly the bytes a full write with the
// same seed stores. Weights at any scale (BLOOM-176B's 352 GB) then need no
// disk and no copy, and a tensor-parallel rank generates only its slice.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "runtime/checkpoint/synthetic_values.h"
#include "runtime/checkpoint/tensor_slice.h"
#include "runtime/support/dtype.h"

namespace bloom {

inline constexpr char kGeneratorKey[] = "bloom.generator";
inline constexpr char kGeneratorName[] = "splitmix64-irwin-hall-4";
inline constexpr char kSeedKey[] = "bloom.seed";
inline constexpr char kValuesKeyPrefix[] = "bloom.values.";

struct GeneratedTensor {
  uint64_t key = 0;  // TensorStreamKey(seed, name)
  ValueDistribution distribution;
};

struct GeneratedWeights {
  uint64_t seed = 0;
  std::map<std::string, GeneratedTensor> tensors;  // by stored tensor name
};

// The "__metadata__" entries describing `tensors` (name, distribution)
// generated from `seed`.
std::map<std::string, std::string> GeneratedWeightsMetadata(
    uint64_t seed, const std::vector<std::pair<std::string, ValueDistribution>>& tensors);

// The generator a header's metadata describes, or nullopt when it names
// none (a file of stored values). Every tensor of the file must have its
// distribution and every distribution a tensor; errors name `label` and the
// key.
absl::StatusOr<std::optional<GeneratedWeights>> ParseGeneratedWeights(
    const std::map<std::string, std::string>& metadata,
    const std::vector<std::string>& tensor_names, absl::string_view label);

// The slice `slice` of tensor `tensor` (stored as `dtype`) into `dst` as
// float32, the generated values rounded through `dtype`. Large slices are
// generated on several threads (the values do not depend on how).
absl::Status GenerateTensorSliceAsFloat32(const GeneratedTensor& tensor, DType dtype,
                                          const TensorSlice& slice, absl::Span<float> dst,
                                          absl::string_view what);

}  // namespace bloom
