// Where each tensor of a synthetic checkpoint goes: which file, at which
// offset, and the safetensors header of each file. Pure computation, so the
// layout of a full write and of a layout-only (sparse) write are the same
// by construction; a layout-only header adds only the generator's metadata
// (runtime/checkpoint/generated_weights.h), from which readers make the
// values a full write stores.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/support/dtype.h"
#include "tools/make-synthetic-checkpoint/tensor_specs.h"

namespace bloom::tools {

struct ShardTensor {
  size_t spec = 0;      // index into the specs
  uint64_t begin = 0;   // byte offset from the start of the file
  uint64_t bytes = 0;
};

struct ShardLayout {
  std::string file_name;
  // The framed header: 8-byte little-endian length, then JSON padded with
  // spaces to a multiple of 8 bytes (as the safetensors library does), so
  // the data section starts 8-byte aligned.
  std::string header;
  uint64_t file_size = 0;
  std::vector<ShardTensor> tensors;
};

// Lays the tensors out back to back (safetensors allows no gaps) in spec
// order. `max_shard_bytes` == 0 puts everything in "model.safetensors";
// otherwise a new shard starts when the next tensor would push the current
// one's data past the limit (a tensor larger than the limit is a shard of
// its own), and shards are named "model-00001-of-0000N.safetensors" as
// save_pretrained names them. With `generated_seed`, each header records
// that its values are generated from that seed (a layout-only write).
std::vector<ShardLayout> LayOutShards(const std::vector<SyntheticTensorSpec>& specs,
                                      DType dtype, int64_t max_shard_bytes,
                                      std::optional<uint64_t> generated_seed = std::nullopt);

// model.safetensors.index.json for sharded layouts:
// {"metadata": {"total_size": data bytes}, "weight_map": {name: file}}.
std::string IndexJson(const std::vector<SyntheticTensorSpec>& specs,
                      const std::vector<ShardLayout>& shards);

}  // namespace bloom::tools
