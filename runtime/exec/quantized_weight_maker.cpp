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
    // The buffers are reused from source to source: a fresh (zeroed, page
    // faulted) 3 GB float buffer for each of BLOOM-176B's 280 weights
    // costs more than making their values.
    const size_t count = static_cast<size_t>(elements);
    if (floats_.size() < count) floats_.resize(count);
    absl::Span<float> values(floats_.data(), count);
    BLOOM_RETURN_IF_ERROR(stored.file->ReadSliceAsFloat32(*stored.tensor, source.slice_dim(),
                                                          source.slice_begin(), source.slice_end(),
                                                          values, stored.what));
    source_bytes_read_ +=
        static_cast<int64_t>(StorageBytes(stored.tensor->dtype, static_cast<uint64_t>(elements)));
    const WeightFormat format = ToWeightFormat(quantize->format());
    const int64_t group = format == WeightFormat::kInt8PerChannel ? shape[1] : quantize->group_size();
    const int64_t groups = shape[0] * (shape[1] / group);
    matrix_.format = format;
    matrix_.rows = shape[0];
    matrix_.cols = shape[1];
    matrix_.group_size = group;
    matrix_.scale_dtype = DType::kF16;
    matrix_.values.resize(StorageBytes(WeightFormatValues(format), count));
    matrix_.scales.resize(static_cast<size_t>(groups) * DTypeSize(DType::kF16));
    matrix_.zero_points.resize(format == WeightFormat::kInt4Grouped ? static_cast<size_t>(groups)
                                                                     : 0);
    BLOOM_RETURN_IF_ERROR(QuantizeWeightInto(
        values, shape[0], shape[1], format, group, DType::kF16, absl::MakeSpan(matrix_.values),
        absl::MakeSpan(matrix_.scales), absl::MakeSpan(matrix_.zero_points), stored.what));
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
