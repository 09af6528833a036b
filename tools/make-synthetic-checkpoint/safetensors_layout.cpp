#include "tools/make-synthetic-checkpoint/safetensors_layout.h"

#include <cstdio>

#include "nlohmann/json.hpp"
#include "runtime/checkpoint/generated_weights.h"

namespace bloom::tools {
namespace {

using Json = nlohmann::json;

// Header JSON for the tensors of one shard, given their data-relative
// offsets; returns the framed header.
std::string FrameHeader(const std::vector<SyntheticTensorSpec>& specs, DType dtype,
                        const std::vector<size_t>& members,
                        const std::vector<uint64_t>& relative_begin,
                        std::optional<uint64_t> generated_seed) {
  Json header = Json::object();
  header["__metadata__"] = {{"format", "pt"}};
  if (generated_seed) {
    std::vector<std::pair<std::string, ValueDistribution>> tensors;
    for (size_t member : members) {
      tensors.emplace_back(specs[member].name, specs[member].distribution);
    }
    for (const auto& [key, value] : GeneratedWeightsMetadata(*generated_seed, tensors)) {
      header["__metadata__"][key] = value;
    }
  }
  for (size_t i = 0; i < members.size(); ++i) {
    const SyntheticTensorSpec& spec = specs[members[i]];
    const uint64_t bytes = static_cast<uint64_t>(spec.NumElements()) * DTypeSize(dtype);
    header[spec.name] = {{"dtype", std::string(DTypeName(dtype))},
                         {"shape", spec.shape},
                         {"data_offsets", {relative_begin[i], relative_begin[i] + bytes}}};
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string framed(8, '\0');
  uint64_t length = text.size();
  for (int b = 0; b < 8; ++b) framed[b] = static_cast<char>((length >> (8 * b)) & 0xFF);
  return framed + text;
}

}  // namespace

std::vector<ShardLayout> LayOutShards(const std::vector<SyntheticTensorSpec>& specs,
                                      DType dtype, int64_t max_shard_bytes,
                                      std::optional<uint64_t> generated_seed) {
  // First group the specs into shards by data size.
  std::vector<std::vector<size_t>> groups(1);
  uint64_t group_bytes = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const uint64_t bytes = static_cast<uint64_t>(specs[i].NumElements()) * DTypeSize(dtype);
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
      std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", g + 1,
                    groups.size());
      shard.file_name = name;
    }
    std::vector<uint64_t> relative_begin;
    uint64_t offset = 0;
    for (size_t spec : groups[g]) {
      relative_begin.push_back(offset);
      offset += static_cast<uint64_t>(specs[spec].NumElements()) * DTypeSize(dtype);
    }
    shard.header = FrameHeader(specs, dtype, groups[g], relative_begin, generated_seed);
    const uint64_t data_start = shard.header.size();
    for (size_t i = 0; i < groups[g].size(); ++i) {
      const uint64_t bytes =
          static_cast<uint64_t>(specs[groups[g][i]].NumElements()) * DTypeSize(dtype);
      shard.tensors.push_back({groups[g][i], data_start + relative_begin[i], bytes});
    }
    shard.file_size = data_start + offset;
    shards.push_back(std::move(shard));
  }
  return shards;
}

std::string IndexJson(const std::vector<SyntheticTensorSpec>& specs,
                      const std::vector<ShardLayout>& shards) {
  Json weight_map = Json::object();
  uint64_t total = 0;
  for (const ShardLayout& shard : shards) {
    for (const ShardTensor& tensor : shard.tensors) {
      weight_map[specs[tensor.spec].name] = shard.file_name;
      total += tensor.bytes;
    }
  }
  Json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  return index.dump(2) + "\n";
}

}  // namespace bloom::tools
