// Operations and enums of the `plan` dialect (see PlanOps.td, PlanEnums.td).
#pragma once

#include "dialects/Plan/PlanDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/Plan/PlanEnums.h.inc"

#define GET_OP_CLASSES
#include "dialects/Plan/PlanOps.h.inc"

namespace bloom::plan_ir {

// Bytes that a tensor of `type` occupies in the arena when its dynamic
// leading dimension (if any) has `capacity_rows` rows.
int64_t ArenaBytes(mlir::MemRefType type, int64_t capacity_rows);

}  // namespace bloom::plan_ir
