// Live ranges of the activation-arena tensors of a bloom @step, in op order:
// the analysis that --bloom-plan-memory places buffers by.
//
// Ops are numbered in block order, bloom.weight and other non-computing ops
// skipped. A tensor is live from the op that writes it to the last op that
// reads it, both inclusive, since an op reads its operands while it writes
// its results. Step inputs and the returned logits are live for the whole
// step (the host writes or reads them around it). An op's internal buffer
// (the qkv projection inside bloom.alibi_attention) lives during its op only.
//
// These ranges are at least as long as the plan instructions' ranges after
// lowering (an op becomes one or more consecutive instructions in the same
// order), so offsets that are safe here are safe in the plan; the
// plan.program verifier re-checks them at the instruction level.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "llvm/ADT/SmallVector.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Value.h"

namespace bloom {

// Which leading dimension of a tensor varies per step, and so how many rows
// the arena holds for it (plan_ir::RowDim at the bloom level).
enum class RowKind { kStatic, kTokens, kLogitRows };

struct ArenaTensor {
  std::string name;
  // The defining op, or null for a step argument.
  mlir::Operation* op = nullptr;
  // Index among the op's arena tensors: results first, then internal
  // buffers; the argument number for a step argument.
  unsigned index = 0;
  mlir::Type element_type;
  llvm::SmallVector<int64_t> shape;  // dynamic leading dimension as kDynamic
  RowKind rows = RowKind::kTokens;
  int64_t first = 0;  // op index of the write (0 for whole-step tensors)
  int64_t last = 0;   // op index of the last read
  bool whole_step = false;
};

struct StepLiveness {
  std::vector<ArenaTensor> tensors;  // step arguments first, then op order
  int64_t num_ops = 0;
};

// The row kind of a value of @step: logit_rows and gather_rows results vary
// with R, weights are static, everything else follows its first operand.
RowKind RowKindOf(mlir::Value value);

// Analyzes `step` (one block). Fails, with a diagnostic, on a tensor that
// cannot be sized (more than one dynamic dimension).
mlir::FailureOr<StepLiveness> AnalyzeStepLiveness(mlir::func::FuncOp step);

// Bytes the arena holds for `tensor`, unaligned: a dynamic leading dimension
// counts `max_batch_tokens` (Tokens) or `max_logit_rows` (LogitRows) rows.
int64_t TensorBytes(const ArenaTensor& tensor, int64_t max_batch_tokens,
                    int64_t max_logit_rows);

// Bytes per element of a float or integer type.
int64_t ElementBytes(mlir::Type type);

// Bytes of a static tensor stored back to back, counted in bits so that
// int4 (two a byte, runtime/support/dtype.h) is half a byte an element.
int64_t TensorStorageBytes(mlir::RankedTensorType type);

}  // namespace bloom
