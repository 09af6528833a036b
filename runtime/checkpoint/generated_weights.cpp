#include "runtime/checkpoint/generated_weights.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <system_error>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/support/status_macros.h"

namespace bloom {
namespace {

// Below this many elements one thread generates the slice: starting
// threads costs more than the work.
constexpr uint64_t kElementsPerThread = uint64_t{1} << 22;

absl::Status MetadataError(absl::string_view label, absl::string_view key,
                           absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat(label, ": '__metadata__' entry '", key, "' ", problem));
}

absl::StatusOr<ValueDistribution> ParseDistribution(absl::string_view text, absl::string_view label,
                                                    absl::string_view key) {
  const std::vector<absl::string_view> fields = absl::StrSplit(text, ' ');
  ValueDistribution distribution;
  if (fields.size() != 2 || !absl::SimpleAtof(fields[0], &distribution.mean) ||
      !absl::SimpleAtof(fields[1], &distribution.stddev)) {
    return MetadataError(label, key, "must be '<mean> <stddev>'");
  }
  if (!std::isfinite(distribution.mean) || !std::isfinite(distribution.stddev) ||
      distribution.stddev < 0.0f) {
    return MetadataError(label, key, "needs a finite mean and a finite stddev >= 0");
  }
  return distribution;
}

// Elements [first, first + count) of the slice, in `dst` (the slice's own
// indexing), as the generator's values rounded through `dtype`.
void GenerateRange(const GeneratedTensor& tensor, DType dtype, const TensorSlice& slice,
                   uint64_t first, uint64_t count, float* dst) {
  const uint64_t run = slice.RunElements();
  uint64_t done = 0;
  while (done < count) {
    const uint64_t index = first + done;
    const int64_t o = static_cast<int64_t>(index / run);
    const uint64_t within = index % run;
    const uint64_t n = std::min(run - within, count - done);
    FillValues(tensor.key, static_cast<int64_t>(slice.RunStart(o) + within), tensor.distribution,
               absl::MakeSpan(dst + done, n));
    done += n;
  }
  RoundThroughDType(dtype, dst, count);
}

}  // namespace

std::map<std::string, std::string> GeneratedWeightsMetadata(
    uint64_t seed, const std::vector<std::pair<std::string, ValueDistribution>>& tensors) {
  std::map<std::string, std::string> metadata;
  metadata[kGeneratorKey] = kGeneratorName;
  metadata[kSeedKey] = absl::StrCat(seed);
  for (const auto& [name, distribution] : tensors) {
    // %.9g: nine significant digits give every float back exactly.
    char text[64];
    std::snprintf(text, sizeof(text), "%.9g %.9g", distribution.mean, distribution.stddev);
    metadata[absl::StrCat(kValuesKeyPrefix, name)] = text;
  }
  return metadata;
}

absl::StatusOr<std::optional<GeneratedWeights>> ParseGeneratedWeights(
    const std::map<std::string, std::string>& metadata,
    const std::vector<std::string>& tensor_names, absl::string_view label) {
  auto generator = metadata.find(kGeneratorKey);
  if (generator == metadata.end()) {
    for (const auto& [key, value] : metadata) {
      if (absl::StartsWith(key, kValuesKeyPrefix) || key == kSeedKey) {
        return MetadataError(label, key, absl::StrCat("needs '", kGeneratorKey, "'"));
      }
    }
    return std::nullopt;
  }
  if (generator->second != kGeneratorName) {
    return MetadataError(label, kGeneratorKey,
                         absl::StrCat("names the unknown generator '", generator->second,
                                      "' (known: '", kGeneratorName, "')"));
  }
  GeneratedWeights weights;
  auto seed = metadata.find(kSeedKey);
  if (seed == metadata.end() || !absl::SimpleAtoi(seed->second, &weights.seed) ||
      seed->second.empty() || seed->second[0] == '-' || seed->second[0] == '+') {
    return MetadataError(label, kSeedKey, "must be an unsigned decimal seed");
  }
  const std::set<std::string> names(tensor_names.begin(), tensor_names.end());
  for (const auto& [key, value] : metadata) {
    if (!absl::StartsWith(key, kValuesKeyPrefix)) continue;
    const std::string name = key.substr(sizeof(kValuesKeyPrefix) - 1);
    if (names.count(name) == 0) return MetadataError(label, key, "names no tensor of the file");
    BLOOM_ASSIGN_OR_RETURN(ValueDistribution distribution, ParseDistribution(value, label, key));
    weights.tensors[name] = {TensorStreamKey(weights.seed, name), distribution};
  }
  for (const std::string& name : tensor_names) {
    if (weights.tensors.count(name) == 0) {
      return MetadataError(label, absl::StrCat(kValuesKeyPrefix, name),
                           "is missing: a generated file gives every tensor's distribution");
    }
  }
  return weights;
}

absl::Status GenerateTensorSliceAsFloat32(const GeneratedTensor& tensor, DType dtype,
                                          const TensorSlice& slice, absl::Span<float> dst,
                                          absl::string_view what) {
  BLOOM_RETURN_IF_ERROR(CheckReadableAsFloat32(dtype, what));
  const uint64_t count = slice.Elements();
  if (count != dst.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": slice of ", dst.size(), " elements does not fit the stored tensor"));
  }
  const uint64_t hardware = std::max(1u, std::thread::hardware_concurrency());
  const uint64_t threads = std::min<uint64_t>(hardware, count / kElementsPerThread + 1);
  if (threads == 1) {
    GenerateRange(tensor, dtype, slice, 0, count, dst.data());
    return absl::OkStatus();
  }
  std::vector<std::thread> pool;
  const uint64_t per_thread = (count + threads - 1) / threads;
  for (uint64_t t = 0; t < threads; ++t) {
    const uint64_t first = t * per_thread;
    if (first >= count) break;
    const uint64_t n = std::min(per_thread, count - first);
    auto part = [&, first, n] {
      GenerateRange(tensor, dtype, slice, first, n, dst.data() + first);
    };
    try {
      pool.emplace_back(part);
    } catch (const std::system_error&) {
      part();  // no thread to be had: this one does the part (same values)
    }
  }
  for (std::thread& thread : pool) thread.join();
  return absl::OkStatus();
}

}  // namespace bloom
