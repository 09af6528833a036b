#include "runtime/exec/quantized_weight_maker.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/plan/quantized_weights.h"
#include "runtime/support/status_macros.h"

namespace bloom {

WeightFormat ToWeightFormat(plan::WeightFormat format) {
  switch (format) {
    case plan::WeightFormat::Int8PerChannel: return WeightFormat::kInt8PerChannel;
    case plan::WeightFormat::Int4Grouped: return WeightFormat::kInt4Grouped;
  }
  return WeightFormat::kInt8PerChannel;  // unreachable for a validated plan
}

absl::StatusOr<absl::Span<const uint8_t>> QuantizedWeightMaker::Make(const plan::Tensor& tensor,
                                                                     const StoredWeight& stored) {
  const plan::WeightSource& source = *tensor.source();
  const plan::QuantizeAtLoad* quantize = source.quantize();
  if (quantize == nullptr) {
    return absl::InternalError(
        absl::StrCat("weight '", tensor.name()->str(), "' is not quantized at load"));
  }
  const std::vector<int64_t> shape = SourceShape(tensor);  // [M, K] of the float source
  const std::string key =
      absl::StrCat(source.file()->str(), "\n", source.tensor()->str(), "\n", source.slice_dim(),
                   ":", source.slice_begin(), ":", source.slice_end(), "\n",
                   static_cast<int>(quantize->format()), ":", quantize->group_size());
  if (key != key_) {
    key_.clear();  // until the new source is made
    const int64_t elements = shape[0] * shape[1];
    std::vector<float> values(static_cast<size_t>(elements));
    BLOOM_RETURN_IF_ERROR(stored.file->ReadSliceAsFloat32(*stored.tensor, source.slice_dim(),
                                                          source.slice_begin(), source.slice_end(),
                                                          absl::MakeSpan(values), stored.what));
    source_bytes_read_ +=
        static_cast<int64_t>(StorageBytes(stored.tensor->dtype, static_cast<uint64_t>(elements)));
    BLOOM_ASSIGN_OR_RETURN(
        matrix_, QuantizeWeight(values, shape[0], shape[1], ToWeightFormat(quantize->format()),
                                quantize->group_size(), DType::kF16, stored.what));
    key_ = key;
  }
  switch (quantize->part()) {
    case plan::QuantizedPart::Values: return absl::MakeConstSpan(matrix_.values);
    case plan::QuantizedPart::Scales: return absl::MakeConstSpan(matrix_.scales);
    case plan::QuantizedPart::ZeroPoints:
      return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(matrix_.zero_points.data()),
                                 matrix_.zero_points.size());
  }
  return absl::InternalError("unknown quantized part");
}

}  // namespace bloom
