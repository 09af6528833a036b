#include "runtime/plan/quantized_weights.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace bloom {
namespace {

using plan::DType;
using plan::QuantizedPart;
using plan::WeightFormat;

bool IsFloat(DType dtype) {
  return dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16;
}

std::string Shape(const std::vector<int64_t>& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

std::vector<int64_t> Dims(const plan::Tensor& tensor) {
  return std::vector<int64_t>(tensor.shape()->begin(), tensor.shape()->end());
}

bool SameSource(const plan::WeightSource& a, const plan::WeightSource& b) {
  return a.file()->str() == b.file()->str() && a.tensor()->str() == b.tensor()->str() &&
         a.dtype() == b.dtype() && a.slice_dim() == b.slice_dim() &&
         a.slice_begin() == b.slice_begin() && a.slice_end() == b.slice_end();
}

}  // namespace

bool IsQuantizedDType(DType dtype) { return dtype == DType::I8 || dtype == DType::I4; }

std::vector<int64_t> SourceShape(const plan::Tensor& tensor) {
  std::vector<int64_t> shape = Dims(tensor);
  const plan::QuantizeAtLoad* quantize =
      tensor.source() != nullptr ? tensor.source()->quantize() : nullptr;
  if (quantize != nullptr && quantize->part() != QuantizedPart::Values && shape.size() == 2) {
    // Unchecked plans reach here only through the validator, which bounds
    // both factors; -1 (no shape matches it) rather than an overflow.
    const int64_t group = quantize->group_size();
    shape[1] = group > 0 && shape[1] > 0 && shape[1] <= std::numeric_limits<int64_t>::max() / group
                   ? shape[1] * group
                   : -1;
  }
  return shape;
}

absl::Status ValidateQuantizedWeightTensor(
    const plan::Tensor& tensor, const std::function<absl::Status(absl::string_view)>& fail) {
  const plan::WeightSource& source = *tensor.source();
  const plan::QuantizeAtLoad* quantize = source.quantize();
  if (quantize == nullptr) {
    // Loaded as stored: floats convert between float dtypes; quantized
    // values and zero points are stored in their own dtype (--pack-weights).
    if (IsFloat(tensor.dtype()) && IsFloat(source.dtype())) return absl::OkStatus();
    if (IsQuantizedDType(tensor.dtype()) && source.dtype() == tensor.dtype()) {
      if (tensor.shape()->size() != 2) return fail("a quantized weight must be 2-D");
      return absl::OkStatus();
    }
    return fail(absl::StrCat("a weight is F32, F16 or BF16, or I8 or I4 stored as such; this one "
                             "is ",
                             plan::EnumNameDType(tensor.dtype()), " stored as ",
                             plan::EnumNameDType(source.dtype())));
  }
  if (quantize->format() < WeightFormat::MIN || quantize->format() > WeightFormat::MAX) {
    return fail("unknown quantization format");
  }
  if (quantize->part() < QuantizedPart::MIN || quantize->part() > QuantizedPart::MAX) {
    return fail("unknown quantized part");
  }
  if (!IsFloat(source.dtype())) {
    return fail(absl::StrCat("is quantized at load from a ", plan::EnumNameDType(source.dtype()),
                             " tensor; the source must be F32, F16 or BF16"));
  }
  if (tensor.shape()->size() != 2) return fail("a quantized weight's tensors are 2-D");
  const bool int4 = quantize->format() == WeightFormat::Int4Grouped;
  const int64_t group = quantize->group_size();
  if (group <= 0 || (int4 && group % 2 != 0)) {
    return fail(absl::StrCat("quantization group size ", group,
                             int4 ? " must be positive and even" : " must be positive"));
  }
  // The float source of the scales and zero points is [M, G x group]:
  // bounded as every tensor is (a crafted group must not overflow it).
  constexpr int64_t kMaxElements = int64_t{1} << 50;
  const int64_t groups = tensor.shape()->Get(1);
  if (group > kMaxElements || (groups > 0 && groups > kMaxElements / group)) {
    return fail(absl::StrCat("quantization group size ", group, " is implausibly large"));
  }
  DType expected = DType::F16;
  switch (quantize->part()) {
    case QuantizedPart::Values: expected = int4 ? DType::I4 : DType::I8; break;
    case QuantizedPart::Scales: expected = DType::F16; break;
    case QuantizedPart::ZeroPoints:
      if (!int4) return fail("int8 weights are symmetric and have no zero points");
      expected = DType::I8;
      break;
  }
  if (tensor.dtype() != expected) {
    return fail(absl::StrCat("the ", plan::EnumNameQuantizedPart(quantize->part()), " of an ",
                             plan::EnumNameWeightFormat(quantize->format()), " weight are ",
                             plan::EnumNameDType(expected), ", not ",
                             plan::EnumNameDType(tensor.dtype())));
  }
  const int64_t cols = tensor.shape()->Get(1);
  if (quantize->part() == QuantizedPart::Values &&
      (cols % group != 0 || (!int4 && group != cols))) {
    return fail(absl::StrCat("group size ", group, " does not fit the input dimension ", cols,
                             int4 ? "" : " (int8 is per output channel: the group is the row)"));
  }
  if (quantize->part() != QuantizedPart::Values && !int4 && cols != 1) {
    return fail("int8 scales are one per output channel: [M, 1]");
  }
  return absl::OkStatus();
}

absl::StatusOr<WeightOperandSpan> CheckWeightOperands(
    const plan::Plan& plan, const plan::Instruction& instruction, size_t first,
    const plan::WeightQuantization* quantization,
    const std::function<absl::Status(absl::string_view)>& fail) {
  const auto* operands = instruction.operands();
  auto tensor = [&](size_t i) -> const plan::Tensor& {
    return *plan.tensors()->Get(operands->Get(i));
  };
  WeightOperandSpan span;
  if (first >= operands->size()) return fail("has no weight operand");
  const plan::Tensor& values = tensor(first);
  if (values.kind() != plan::TensorKind::Weight || values.shape()->size() != 2) {
    return fail(absl::StrCat("'", values.name()->str(), "' must be a 2-D weight"));
  }
  span.rows = values.shape()->Get(0);
  span.cols = values.shape()->Get(1);
  if (quantization == nullptr) {
    if (!IsFloat(values.dtype())) {
      return fail(absl::StrCat("weight '", values.name()->str(), "' is ",
                               plan::EnumNameDType(values.dtype()),
                               " but the instruction has no quantization"));
    }
    return span;
  }
  if (quantization->format() < WeightFormat::MIN || quantization->format() > WeightFormat::MAX) {
    return fail("unknown quantization format");
  }
  const bool int4 = quantization->format() == WeightFormat::Int4Grouped;
  const int64_t group = quantization->group_size();
  if (group <= 0 || span.cols % group != 0 || (!int4 && group != span.cols) ||
      (int4 && group % 2 != 0)) {
    return fail(absl::StrCat("quantization group size ", group, " does not fit the weight's ",
                             span.cols, " input columns"));
  }
  span.count = int4 ? 3 : 2;
  if (first + span.count > operands->size()) {
    return fail(absl::StrCat("a quantized ", plan::EnumNameWeightFormat(quantization->format()),
                             " weight takes ", span.count, " operands (values, scales",
                             int4 ? ", zero points)" : ")"));
  }
  const std::vector<int64_t> side = {span.rows, span.cols / group};
  const struct {
    const char* what;
    DType dtype;
    std::vector<int64_t> shape;
    QuantizedPart part;
  } expected[] = {
      {"values", int4 ? DType::I4 : DType::I8, {span.rows, span.cols}, QuantizedPart::Values},
      {"scales", DType::F16, side, QuantizedPart::Scales},
      {"zero points", DType::I8, side, QuantizedPart::ZeroPoints},
  };
  const plan::QuantizeAtLoad* first_quantize = values.source()->quantize();
  for (size_t i = 0; i < span.count; ++i) {
    const plan::Tensor& part = tensor(first + i);
    if (part.kind() != plan::TensorKind::Weight || part.dtype() != expected[i].dtype ||
        Dims(part) != expected[i].shape) {
      return fail(absl::StrCat("the weight's ", expected[i].what, " '", part.name()->str(),
                               "' are ", plan::EnumNameDType(part.dtype()), Shape(Dims(part)),
                               "; expected a ", plan::EnumNameDType(expected[i].dtype),
                               Shape(expected[i].shape), " weight"));
    }
    const plan::QuantizeAtLoad* quantize = part.source()->quantize();
    if ((quantize == nullptr) != (first_quantize == nullptr)) {
      return fail("a quantized weight's values, scales and zero points must all be quantized at "
                  "load or all be stored quantized");
    }
    if (quantize != nullptr &&
        (quantize->format() != quantization->format() || quantize->group_size() != group ||
         quantize->part() != expected[i].part || !SameSource(*part.source(), *values.source()))) {
      return fail(absl::StrCat("the weight's ", expected[i].what, " '", part.name()->str(),
                               "' are not quantized at load as its values are (the same source, "
                               "format and group, part ",
                               plan::EnumNameQuantizedPart(expected[i].part), ")"));
    }
  }
  return span;
}

}  // namespace bloom
