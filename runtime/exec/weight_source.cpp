#include "runtime/exec/weight_source.h"

#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/exec/plan_view.h"
#include "runtime/plan/quantized_weights.h"
#include "runtime/support/status_macros.h"

namespace bloom {

std::optional<DType> ToRuntimeDType(plan::DType dtype) { return ToDType(dtype); }

std::string WeightsDirectory(const plan::Plan& plan, const std::string& checkpoint_dir) {
  return checkpoint_dir.empty() ? plan.checkpoint_dir()->str() : checkpoint_dir;
}

absl::StatusOr<StoredWeight> FindStoredWeight(const plan::Tensor& tensor, const std::string& dir,
                                              WeightFiles& files) {
  const auto* source = tensor.source();
  const std::string path = absl::StrCat(dir, "/", source->file()->str());
  StoredWeight weight;
  weight.what = absl::StrCat(path, ": tensor '", source->tensor()->str(), "' (plan weight '",
                             tensor.name()->str(), "')");
  std::unique_ptr<SafetensorsFile>& file = files[source->file()->str()];
  if (file == nullptr) {
    BLOOM_ASSIGN_OR_RETURN(SafetensorsFile opened, SafetensorsFile::Open(path));
    file = std::make_unique<SafetensorsFile>(std::move(opened));
  }
  // The plan was compiled against a specific checkpoint layout; a
  // different one is refused rather than silently reinterpreted.
  weight.tensor = file->Find(source->tensor()->str());
  if (weight.tensor == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(weight.what, " is not in that file; recompile the plan for this checkpoint"));
  }
  if (ToDType(source->dtype()) != weight.tensor->dtype) {
    return absl::FailedPreconditionError(absl::StrCat(
        weight.what, " is ", std::string(DTypeName(weight.tensor->dtype)), " but the plan expects ",
        plan::EnumNameDType(source->dtype()), "; recompile the plan for this checkpoint"));
  }
  // What the source holds: the tensor's shape, or for the scales and zero
  // points of a weight quantized at load the float weight they come from.
  const std::vector<int64_t> expected = SourceShape(tensor);
  const int dim = source->slice_dim();
  bool shape_ok = weight.tensor->shape.size() == expected.size();
  for (size_t d = 0; shape_ok && d < expected.size(); ++d) {
    shape_ok = static_cast<int>(d) == dim ? source->slice_end() <= weight.tensor->shape[d]
                                          : weight.tensor->shape[d] == expected[d];
  }
  if (!shape_ok) {
    return absl::FailedPreconditionError(
        absl::StrCat(weight.what, " has a shape that does not hold the plan's ",
                     dim == -1 ? "tensor"
                               : absl::StrCat("slice [", source->slice_begin(), ", ",
                                              source->slice_end(), ") of dimension ", dim),
                     "; recompile the plan"));
  }
  weight.file = file.get();
  weight.data = file->Data(*weight.tensor);
  return weight;
}

std::optional<uint64_t> GeneratedWeightsSeed(const plan::Plan& plan,
                                             const std::string& checkpoint_dir) {
  const std::string dir = WeightsDirectory(plan, checkpoint_dir);
  std::set<std::string> names;
  for (const plan::Tensor* tensor : *plan.tensors()) {
    if (tensor->kind() == plan::TensorKind::Weight && tensor->source() != nullptr) {
      names.insert(tensor->source()->file()->str());
    }
  }
  for (const std::string& name : names) {
    absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(absl::StrCat(dir, "/", name));
    if (file.ok() && file->generated()) return file->header().generated->seed;
  }
  return std::nullopt;
}

}  // namespace bloom
