// Where the graph's weights come from. The graph builder asks for each weight
// by canonical name and expected shape; a checkpoint resolver answers with
// the shard file, stored tensor name and stored dtype (checking the shape),
// a shapes-only resolver answers "unresolved" so a graph can be built from a
// config alone.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/checkpoint/checkpoint.h"
#include "runtime/support/dtype.h"

namespace bloom::model {

struct WeightLocation {
  std::string file;    // shard file, relative to the checkpoint directory
  std::string tensor;  // the name stored in that file
  DType stored_dtype;  // kF32, kF16 or kBF16
};

class WeightResolver {
 public:
  virtual ~WeightResolver() = default;

  // Where `canonical` is stored; std::nullopt when shapes only. Errors name
  // the tensor: not found, a shape other than `shape`, a non-float dtype.
  virtual absl::StatusOr<std::optional<WeightLocation>> Resolve(
      std::string_view canonical, absl::Span<const int64_t> shape) const = 0;

  // True when the checkpoint has its own "lm_head.weight"; otherwise the LM
  // head is tied to the word embeddings.
  virtual bool HasOwnLmHead() const = 0;

  // The directory that WeightLocation::file is relative to ("" if none).
  virtual std::string CheckpointDir() const = 0;
};

// Resolves nothing: every weight stays unresolved, the head is tied.
std::unique_ptr<WeightResolver> MakeShapesOnlyResolver();

// Resolves against `checkpoint`, which must outlive the resolver.
// `checkpoint_dir` is recorded as the directory weights are relative to.
std::unique_ptr<WeightResolver> MakeCheckpointResolver(
    const Checkpoint& checkpoint, std::string checkpoint_dir);

}  // namespace bloom::model
