#include "models/bloom/graph/WeightResolver.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "models/bloom/tensor_names.h"
#include "runtime/support/status_macros.h"

namespace bloom::model {
namespace {

class ShapesOnlyResolver : public WeightResolver {
 public:
  absl::StatusOr<std::optional<WeightLocation>> Resolve(
      std::string_view, absl::Span<const int64_t>) const override {
    return std::nullopt;
  }
  bool HasOwnLmHead() const override { return false; }
  std::string CheckpointDir() const override { return ""; }
};

class CheckpointResolver : public WeightResolver {
 public:
  CheckpointResolver(const Checkpoint& checkpoint, std::string checkpoint_dir)
      : checkpoint_(checkpoint), checkpoint_dir_(std::move(checkpoint_dir)) {}

  absl::StatusOr<std::optional<WeightLocation>> Resolve(
      std::string_view canonical,
      absl::Span<const int64_t> shape) const override {
    BLOOM_ASSIGN_OR_RETURN(std::string stored,
                           ResolveTensorName(checkpoint_, canonical));
    BLOOM_ASSIGN_OR_RETURN(CheckpointTensorRef ref, checkpoint_.Find(stored));
    const SafetensorsTensor& tensor = *ref.tensor;
    if (!std::equal(tensor.shape.begin(), tensor.shape.end(), shape.begin(),
                    shape.end())) {
      return absl::InvalidArgumentError(absl::StrCat(
          checkpoint_.dir(), ": tensor '", stored, "' has shape [",
          absl::StrJoin(tensor.shape, ", "), "] but the config implies [",
          absl::StrJoin(shape, ", "), "]"));
    }
    if (!IsFloatingDType(tensor.dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(
          checkpoint_.dir(), ": tensor '", stored, "' is stored as ",
          std::string(DTypeName(tensor.dtype)), "; weights must be F32, F16 or BF16"));
    }
    return WeightLocation{ref.file, stored, tensor.dtype};
  }

  bool HasOwnLmHead() const override { return checkpoint_.Contains(kLmHead); }
  std::string CheckpointDir() const override { return checkpoint_dir_; }

 private:
  const Checkpoint& checkpoint_;
  std::string checkpoint_dir_;
};

}  // namespace

std::unique_ptr<WeightResolver> MakeShapesOnlyResolver() {
  return std::make_unique<ShapesOnlyResolver>();
}

std::unique_ptr<WeightResolver> MakeCheckpointResolver(
    const Checkpoint& checkpoint, std::string checkpoint_dir) {
  return std::make_unique<CheckpointResolver>(checkpoint,
                                              std::move(checkpoint_dir));
}

}  // namespace bloom::model
