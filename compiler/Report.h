// PLAN_DIR/report.json: what a plan needs, per device, for people and
// scripts (docs/compiler-passes.md documents the schema).
#pragma once

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LogicalResult.h"

namespace bloom {

// Writes dir/report.json from the module attributes that
// --bloom-assign-precision (bloom.precision_policy) and --bloom-plan-memory
// (bloom.memory) record; `dir` must exist. Fails, with a diagnostic, if the
// memory plan is missing.
mlir::LogicalResult WriteReport(mlir::ModuleOp module, llvm::StringRef dir,
                                bool shapes_only);

}  // namespace bloom
