// bloom-compile with tiering: writes the disk-resident weight units of a
// lowered plan into the file their plan.weight_unit names (relative to the
// plan directory, e.g. weight_units.bin): each unit's bytes at its
// 4096-aligned file offset, each weight inside the unit at its
// `stream ... at` offset, converted to its storage type, zeros between (so
// the runtime can read a unit straight into its slot with O_DIRECT). Host
// units are not written: the runtime packs them from the checkpoint at
// load, which it reads anyway for the resident weights.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "mlir/IR/BuiltinOps.h"
#include "runtime/checkpoint/checkpoint.h"

namespace bloom {

// Does nothing when the plan has no disk unit. Errors name the file or
// tensor.
absl::Status WriteWeightUnits(mlir::ModuleOp module, const Checkpoint& checkpoint,
                              const std::string& plan_dir);

}  // namespace bloom
