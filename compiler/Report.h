// PLAN_DIR/report.json: what a plan needs, per device, for people and
// scripts (docs/compiler-passes.md documents the schema).
#pragma once

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LogicalResult.h"

namespace bloom {

// Writes dir/report.json from the module attributes that
// --bloom-assign-precision (bloom.precision_policy), --bloom-partition-pp
// (bloom.pp_stage, bloom.pp_size, bloom.pp_layers), --bloom-partition-tp
// (bloom.tp_rank, bloom.tp_size) and --bloom-plan-memory (bloom.memory)
// record; `dir` must exist. `ranks` holds one module per mesh position,
// stage-major then rank order (one module without partitioning): `devices`
// gets one entry per position with its bytes (and, with pp > 1, its stage
// and rank); the rest of the report (limits, KV cache geometry per rank,
// arena) is the first position's. With pp > 1 a "pipeline" section gives
// each stage's bytes, the decode step the cost model expects of it at
// `device_bandwidth` (bytes per second) and the bottleneck stage. Fails,
// with a diagnostic, if a memory plan is missing.
mlir::LogicalResult WriteReport(llvm::ArrayRef<mlir::ModuleOp> ranks,
                                llvm::StringRef dir, bool shapes_only,
                                double device_bandwidth = 3.0e12);

}  // namespace bloom
