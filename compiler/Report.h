// PLAN_DIR/report.json: what a plan needs, per device, for people and
// scripts (docs/compiler-passes.md documents the schema).
#pragma once

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LogicalResult.h"

namespace bloom {

// Writes dir/report.json from the module attributes that
// --bloom-assign-precision (bloom.precision_policy), --bloom-partition-tp
// (bloom.tp_rank, bloom.tp_size) and --bloom-plan-memory (bloom.memory)
// record; `dir` must exist. `ranks` holds one module per tensor-parallel
// rank, in rank order (one module without partitioning): `devices` gets one
// entry per rank with that rank's bytes; the rest of the report (limits, KV
// cache geometry per rank, arena) is rank 0's. Fails, with a diagnostic, if
// a memory plan is missing.
mlir::LogicalResult WriteReport(llvm::ArrayRef<mlir::ModuleOp> ranks,
                                llvm::StringRef dir, bool shapes_only);

}  // namespace bloom
