// Which file each tensor of a synthetic checkpoint goes in, named and split
// as transformers' save_pretrained splits shards, and each file's layout
// (header and offsets) from the one safetensors writer
// (runtime/checkpoint/safetensors_writer.h). Pure computation, so a full
// write and a layout-only (sparse) write lay out the same by construction;
// a layout-only header adds only the generator's metadata
// (runtime/checkpoint/generated_weights.h), from which readers make the
// values a full write stores.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/checkpoint/safetensors_writer.h"
#include "runtime/support/dtype.h"
#include "tools/make-synthetic-checkpoint/tensor_specs.h"

namespace bloom::tools {

struct ShardLayout {
  std::string file_name;
  std::vector<size_t> specs;  // per tensor of the file, in data order: its spec's index
  // The header is sorted-key JSON (SafetensorsKeyOrder::kSorted), as this
  // tool has always written it.
  SafetensorsLayout layout;
};

// Lays the tensors out back to back (safetensors allows no gaps) in spec
// order. `max_shard_bytes` == 0 puts everything in "model.safetensors";
// otherwise a new shard starts when the next tensor would push the current
// one's data past the limit (a tensor larger than the limit is a shard of
// its own), and shards are named "model-00001-of-0000N.safetensors" as
// save_pretrained names them. With `generated_seed`, each header records
// that its values are generated from that seed (a layout-only write).
absl::StatusOr<std::vector<ShardLayout>> LayOutShards(
    const std::vector<SyntheticTensorSpec>& specs, DType dtype, int64_t max_shard_bytes,
    std::optional<uint64_t> generated_seed = std::nullopt);

// model.safetensors.index.json for sharded layouts:
// {"metadata": {"total_size": data bytes}, "weight_map": {name: file}}.
std::string IndexJson(const std::vector<SyntheticTensorSpec>& specs,
                      const std::vector<ShardLayout>& shards);

}  // namespace bloom::tools
