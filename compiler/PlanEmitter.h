// Plan emission: serializes a module's plan.program as runtime/plan/plan.fbs
// (plan.bplan) and writes the plan-dialect IR beside it (plan.mlir).
#pragma once

#include <cstdint>
#include <string>
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

// The names of rank `rank`'s plan file and its textual twin in a plan
// directory of `size` ranks: plan.bplan and plan.mlir for one rank,
// plan.rank<R>.bplan and plan.rank<R>.mlir for each of several (the
// runtime's naming, runtime/plan/plan_version.h).
std::string PlanFileName(int64_t rank, int64_t size);
std::string PlanTextFileName(int64_t rank, int64_t size);

// Creates `dir` if needed and writes the plan-dialect IR only (a
// shapes-only plan, which has no weights to serialize), under the name of
// the program's rank (PlanTextFileName).
mlir::LogicalResult WritePlanText(mlir::ModuleOp module, llvm::StringRef dir);

// Creates `dir` if needed and writes the program's plan file and its IR
// under the names of its rank (tensor_parallel(rank, size); rank 0 of 1
// when absent).
mlir::LogicalResult WritePlanDirectory(mlir::ModuleOp module,
                                       llvm::StringRef dir);

}  // namespace bloom
