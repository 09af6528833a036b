// Plan emission: serializes a module's plan.program as runtime/plan/plan.fbs
// (plan.bplan) and writes the plan-dialect IR beside it (plan.mlir).
#pragma once

#include <cstdint>
#include <vector>

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LogicalResult.h"

namespace bloom {

// Serializes the single plan.program of `module` into `bytes` (a finished
// FlatBuffer with file identifier "BLMP"). Tensors are listed in declaration
// order, instructions in program order. Problems (e.g. a weight without a
// checkpoint source, a missing role) are emitted as diagnostics on the op.
mlir::LogicalResult SerializePlan(mlir::ModuleOp module,
                                  std::vector<uint8_t>& bytes);

// Creates `dir` if needed and writes dir/plan.mlir only (a shapes-only plan,
// which has no weights to serialize).
mlir::LogicalResult WritePlanText(mlir::ModuleOp module, llvm::StringRef dir);

// Creates `dir` if needed and writes dir/plan.bplan and dir/plan.mlir.
mlir::LogicalResult WritePlanDirectory(mlir::ModuleOp module,
                                       llvm::StringRef dir);

}  // namespace bloom
