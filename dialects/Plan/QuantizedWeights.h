// Quantized weights in the `plan` dialect (docs/quantization.md): the
// checks of a plan.weight's `quantize(...)` and of a kernel's quantized
// weight operands, used by the verifiers in PlanOps.cpp, and the one
// reading of those operands that the verifiers and the plan emitter share.
#pragma once

#include <cstdint>
#include <optional>

#include "dialects/Plan/PlanOps.h"
#include "mlir/Support/LogicalResult.h"

namespace bloom::plan_ir {

// A kernel's weight operand, starting at ins[index]: either one float
// matrix, or a quantized weight's values (i8 or i4 [M, K]), scales (f16
// [M, G]) and, for int4, zero points (i8 [M, G]).
struct WeightOperands {
  unsigned count = 1;  // operands the weight takes: 1, 2 (int8) or 3 (int4)
  int64_t rows = 0;    // M
  int64_t cols = 0;    // K
  std::optional<WeightFormat> format;  // nullopt: a float matrix
  int64_t group_size = 0;              // K / G when quantized
};

// Reads and checks the weight operand at ins[index] of kernel `op` (what a
// quantized weight's three tensors must agree on: shapes, element types,
// the group size dividing K, and, when they are quantized at load, one
// source, format and group and the right parts). Errors are emitted on
// `op` and name `what` ("weight", "table").
mlir::FailureOr<WeightOperands> ReadWeightOperands(mlir::Operation* op, mlir::ValueRange ins,
                                                   unsigned index, llvm::StringRef what);

// A plan.weight's quantize(format, group, part): all three or none, only
// with a float source, and a result type that fits the part.
mlir::LogicalResult VerifyQuantizedWeight(WeightOp weight);

}  // namespace bloom::plan_ir
