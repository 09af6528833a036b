#include "tools/make-synthetic-checkpoint/shard_layout.h"

#include <cstdio>

#include "nlohmann/json.hpp"
#include "runtime/checkpoint/generated_weights.h"
#include "runtime/support/status_macros.h"

namespace bloom::tools {
namespace {

using Json = nlohmann::json;

uint64_t TensorBytes(const SyntheticTensorSpec& spec, DType dtype) {
  return StorageBytes(dtype, static_cast<uint64_t>(spec.NumElements()));
}

}  // namespace

absl::StatusOr<std::vector<ShardLayout>> LayOutShards(const std::vector<SyntheticTensorSpec>& specs,
                                                      DType dtype, int64_t max_shard_bytes,
                                                      std::optional<uint64_t> generated_seed) {
  // First group the specs into shards by data size.
  std::vector<std::vector<size_t>> groups(1);
  uint64_t group_bytes = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const uint64_t bytes = TensorBytes(specs[i], dtype);
    if (max_shard_bytes > 0 && !groups.back().empty() &&
        group_bytes + bytes > static_cast<uint64_t>(max_shard_bytes)) {
      groups.emplace_back();
      group_bytes = 0;
    }
    groups.back().push_back(i);
    group_bytes += bytes;
  }

  std::vector<ShardLayout> shards;
  for (size_t g = 0; g < groups.size(); ++g) {
    ShardLayout shard;
    if (max_shard_bytes == 0) {
      shard.file_name = "model.safetensors";
    } else {
      char name[64];
      std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", g + 1, groups.size());
      shard.file_name = name;
    }
    shard.specs = groups[g];
    std::vector<SafetensorsEntry> entries;
    for (size_t spec : groups[g]) entries.push_back({specs[spec].name, dtype, specs[spec].shape});
    SafetensorsHeaderOptions options;
    options.order = SafetensorsKeyOrder::kSorted;
    if (generated_seed) {
      std::vector<std::pair<std::string, ValueDistribution>> tensors;
      for (size_t spec : groups[g])
        tensors.emplace_back(specs[spec].name, specs[spec].distribution);
      for (const auto& [key, value] : GeneratedWeightsMetadata(*generated_seed, tensors)) {
        options.metadata[key] = value;
      }
    }
    BLOOM_ASSIGN_OR_RETURN(shard.layout, LayOutSafetensors(entries, options, shard.file_name));
    shards.push_back(std::move(shard));
  }
  return shards;
}

std::string IndexJson(const std::vector<SyntheticTensorSpec>& specs,
                      const std::vector<ShardLayout>& shards) {
  Json weight_map = Json::object();
  uint64_t total = 0;
  for (const ShardLayout& shard : shards) {
    for (size_t i = 0; i < shard.specs.size(); ++i) {
      weight_map[specs[shard.specs[i]].name] = shard.file_name;
      total += shard.layout.bytes[i];
    }
  }
  Json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  return index.dump(2) + "\n";
}

}  // namespace bloom::tools
