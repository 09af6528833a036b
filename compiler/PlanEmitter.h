// Plan emission: serializes a module's plan.program as runtime/plan/plan.fbs
// (plan.bplan) and writes the plan-dialect IR beside it (plan.mlir).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dialects/Plan/PlanOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LogicalResult.h"

namespace bloom {

// Serializes the single plan.program of `module` into `bytes` (a finished
// FlatBuffer with file identifier "BLMP"). Tensors are listed in declaration
// order, instructions in program order. Problems (e.g. a weight without a
// checkpoint source, a missing role) are emitted as diagnostics on the op.
mlir::LogicalResult SerializePlan(mlir::ModuleOp module,
                                  std::vector<uint8_t>& bytes);

// Where a plan sits in the device mesh: pipeline stage pp_stage of pp_size,
// tensor-parallel rank tp_rank of tp_size.
struct PlanPosition {
  int64_t pp_stage = 0, pp_size = 1;
  int64_t tp_rank = 0, tp_size = 1;
};

// The names of a mesh position's plan file and its textual twin in a plan
// directory (the runtime's naming, runtime/plan/plan_version.h): plan.bplan
// and plan.mlir on one device; plan.rank<R>.bplan and plan.rank<R>.mlir with
// tensor parallelism alone; plan.stage<S>.rank<R>.bplan and .mlir with
// pp_size > 1 (the rank also at tp_size 1).
std::string PlanFileName(const PlanPosition& at);
std::string PlanTextFileName(const PlanPosition& at);

// The position a module's plan.program declares (pipeline_stage(...),
// tensor_parallel(...)).
PlanPosition PositionOf(plan_ir::ProgramOp program);

// Creates `dir` if needed and writes the plan-dialect IR only (a
// shapes-only plan, which has no weights to serialize), under the name of
// the program's mesh position (PlanTextFileName).
mlir::LogicalResult WritePlanText(mlir::ModuleOp module, llvm::StringRef dir);

// Creates `dir` if needed and writes the program's plan file and its IR
// under the names of its mesh position (pipeline_stage(stage, size) and
// tensor_parallel(rank, size); stage 0 of 1 and rank 0 of 1 when absent).
mlir::LogicalResult WritePlanDirectory(mlir::ModuleOp module,
                                       llvm::StringRef dir);

}  // namespace bloom
