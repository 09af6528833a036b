// Quantized weights in a plan (plan.fbs: QuantizeAtLoad, WeightQuantization;
// docs/quantization.md): the validator's checks of the tensors and of the
// kernels' weight operands, and the shapes and readings that the loaders
// share with it, so that a quantized weight means one thing everywhere.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/plan/plan_generated.h"

namespace bloom {

// The shape of what a weight's source holds (the stored tensor, or its
// slice): the tensor's own shape, except for the scales or zero points of
// a weight quantized at load, which are [M, G] made from a source of [M, G
// × group_size].
std::vector<int64_t> SourceShape(const plan::Tensor& tensor);

// Whether `dtype` holds quantized values or zero points (I8, I4).
bool IsQuantizedDType(plan::DType dtype);

// A weight tensor's quantized storage on its own: a QuantizeAtLoad's
// enums, group and part against the tensor's dtype and shape (values I8 or
// I4 [M, K] with the group dividing K, F16 scales, I8 zero points, int4
// only) from a float source; a tensor stored quantized (no QuantizeAtLoad)
// must be stored in its own dtype. `fail` turns a reason into the
// validator's error for this tensor.
absl::Status ValidateQuantizedWeightTensor(
    const plan::Tensor& tensor, const std::function<absl::Status(absl::string_view)>& fail);

// A kernel's weight operand(s), from operand `first` on.
struct WeightOperandSpan {
  size_t count = 1;   // 1 (float), 2 (int8: values, scales), 3 (int4: + zero points)
  int64_t rows = 0;   // M
  int64_t cols = 0;   // K
};

// Checks the weight operand(s) of a Linear or EmbeddingGather: with
// `quantization` (null: a float weight), the values, scales and zero
// points are weights of the dtypes and shapes it says, and if they are
// quantized at load, all from one source, format and group, each the part
// its position says. Errors go through `fail` (the instruction's).
absl::StatusOr<WeightOperandSpan> CheckWeightOperands(
    const plan::Plan& plan, const plan::Instruction& instruction, size_t first,
    const plan::WeightQuantization* quantization,
    const std::function<absl::Status(absl::string_view)>& fail);

}  // namespace bloom
