// Memory tiering's checks in the `plan` dialect, used by the op verifiers
// in PlanOps.cpp (ProgramOp, WeightOp) and defining those of
// WeightUnitOp, PrefetchWeightsOp and AwaitWeightsOp.
#pragma once

#include "dialects/Plan/PlanOps.h"
#include "llvm/ADT/StringRef.h"
#include "mlir/Support/LogicalResult.h"

namespace bloom::plan_ir {

// The program's weight_slots attributes (both or neither, a ring of at
// least 2, whole 4096-byte blocks), unique unit names, non-overlapping
// weights within a unit, and the slot discipline simulated in program
// order: a kernel reads a streamed weight only between its unit's await and
// the next prefetch into the same slot; every await follows a prefetch of
// its unit; a slot's copy is awaited before the next copy into it starts.
mlir::LogicalResult VerifyWeightStreaming(ProgramOp program);

// A weight's stream_unit/slot_offset: both or neither, naming a declared
// unit, a 256-aligned range inside it.
mlir::LogicalResult VerifyStreamedWeight(WeightOp weight);

// The weight unit `name` of the program around `op`, or null with an error
// on `op`.
WeightUnitOp FindWeightUnit(mlir::Operation* op, llvm::StringRef name);

}  // namespace bloom::plan_ir
