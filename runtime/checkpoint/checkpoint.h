// A Hugging Face checkpoint directory's tensors: either one
// `model.safetensors`, or shards listed by `model.safetensors.index.json`
// ({"weight_map": {tensor name: shard file name}}). Every shard is opened and
// validated up front; the index must agree with the shards (each listed
// tensor present in its shard).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/checkpoint/safetensors.h"

namespace bloom {

struct CheckpointTensorRef {
  // Shard file name relative to the checkpoint directory.
  std::string file;
  const SafetensorsFile* opened = nullptr;  // the shard itself
  const SafetensorsTensor* tensor = nullptr;
  // The stored bytes; a generated shard (opened->generated()) holds none:
  // read its values with opened->ReadSliceAsFloat32.
  absl::Span<const uint8_t> data;
};

// model.safetensors.index.json's weight_map: tensor name -> shard file
// name, each a plain file name in the checkpoint directory (no separators,
// no "." or ".."). Errors are one line prefixed by `label`. Pure: the
// libFuzzer entry point.
absl::StatusOr<std::map<std::string, std::string>> ParseCheckpointIndex(std::string_view text,
                                                                       std::string_view label);

class Checkpoint {
 public:
  // Opens DIR/model.safetensors.index.json if present, else
  // DIR/model.safetensors. Errors name the file and the problem.
  static absl::StatusOr<Checkpoint> Open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  // Tensor names across all shards, sorted.
  std::vector<std::string> TensorNames() const;
  // NotFound error naming the tensor and the checkpoint directory if absent.
  absl::StatusOr<CheckpointTensorRef> Find(std::string_view name) const;
  bool Contains(std::string_view name) const;

  // Copies a tensor into `dst` as float32, checking that it has exactly
  // `dst.size()` elements.
  absl::Status ReadAsFloat32(std::string_view name, absl::Span<float> dst) const;

 private:
  std::string dir_;
  // Shard file name -> opened file. unique_ptr keeps Find()'s pointers stable.
  std::map<std::string, std::unique_ptr<SafetensorsFile>> files_;
  // Tensor name -> shard file name.
  std::map<std::string, std::string, std::less<>> tensor_to_file_;
};

}  // namespace bloom
