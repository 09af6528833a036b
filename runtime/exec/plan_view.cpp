#include "runtime/exec/plan_view.h"

namespace bloom {

int64_t RowsAt(const plan::Tensor& tensor, const StepRows& step) {
  switch (tensor.rows()) {
    case plan::RowDim::Tokens:
      return step.tokens;
    case plan::RowDim::LogitRows:
      return step.logit_rows;
    case plan::RowDim::Static:
      return tensor.shape()->Get(0);
  }
  return tensor.shape()->Get(0);  // unreachable for a validated plan
}

int64_t MaxRows(const plan::Tensor& tensor, const plan::Limits& limits) {
  return RowsAt(tensor, StepRows{limits.max_batch_tokens(), limits.max_logit_rows()});
}

int64_t ColumnsOf(const plan::Tensor& tensor) {
  int64_t columns = 1;
  const auto* shape = tensor.shape();
  for (size_t i = 1; i < shape->size(); ++i) columns *= shape->Get(i);
  return columns;
}

int64_t ElementsOf(const plan::Tensor& tensor, int64_t rows) { return rows * ColumnsOf(tensor); }

DType ToDType(plan::DType dtype) {
  switch (dtype) {
    case plan::DType::F32:
      return DType::kF32;
    case plan::DType::F16:
      return DType::kF16;
    case plan::DType::BF16:
      return DType::kBF16;
    case plan::DType::I32:
      return DType::kI32;
    case plan::DType::I8:
      return DType::kI8;
    case plan::DType::I4:
      return DType::kI4;
  }
  return DType::kF32;  // unreachable for a validated plan
}

int64_t BytesOf(const plan::Tensor& tensor, int64_t rows) {
  return static_cast<int64_t>(
      StorageBytes(ToDType(tensor.dtype()), static_cast<uint64_t>(ElementsOf(tensor, rows))));
}

}  // namespace bloom
