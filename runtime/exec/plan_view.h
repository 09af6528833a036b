// One reading of a plan's tensors for every backend, the validator's
// neighbours and the step profile: how many rows a tensor has at a step,
// how many elements and bytes that is, and which runtime DType a plan
// dtype is. Written once so that a new RowDim or a new dtype is one edit
// here, and a switch that misses a case is a compiler warning
// (-Wswitch-enum), not a silent F32.
#pragma once

#include <cstdint>

#include "runtime/plan/plan_generated.h"
#include "runtime/support/dtype.h"

namespace bloom {

// The row counts a step runs with: T tokens and R logit rows.
struct StepRows {
  int64_t tokens = 0;
  int64_t logit_rows = 0;
};

// Rows of `tensor` at a step: T for RowDim Tokens, R for LogitRows, and
// the static shape[0] otherwise.
int64_t RowsAt(const plan::Tensor& tensor, const StepRows& step);
// The most rows `tensor` can have under the plan's limits (what its arena
// room is sized for).
int64_t MaxRows(const plan::Tensor& tensor, const plan::Limits& limits);
// Elements per row: the product of every dimension but the first.
int64_t ColumnsOf(const plan::Tensor& tensor);
// Elements of `rows` rows.
int64_t ElementsOf(const plan::Tensor& tensor, int64_t rows);

// The runtime element type of a plan dtype. Exhaustive: no default branch.
// ValidatePlan refuses dtypes outside the enum before anyone asks.
DType ToDType(plan::DType dtype);
// Bytes of `rows` rows of `tensor` in its plan dtype.
int64_t BytesOf(const plan::Tensor& tensor, int64_t rows);

}  // namespace bloom
