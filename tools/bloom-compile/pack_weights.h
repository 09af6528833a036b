// bloom-compile --pack-weights: writes the weights one rank's plan reads
// (its slices of the checkpoint's tensors, converted to the plan's storage
// types) into PLAN_DIR/rank<R>.safetensors (PLAN_DIR/weights.safetensors for
// a tp=1 plan), and points the plan at them.
//
// After packing, every plan.weight reads the whole tensor named after its
// graph name from that file, stored in its own storage type (no slice, no
// conversion), and the program's checkpoint directory is PLAN_DIR (made
// absolute): the runtime loads a packed plan exactly as any other plan, and
// reads only this rank's bytes, already converted.
#pragma once

#include <string>

#include <vector>

#include "absl/status/status.h"
#include "dialects/Plan/PlanOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "runtime/checkpoint/checkpoint.h"

namespace bloom {

// The packed weight file of rank `rank` of `size`: "rank<R>.safetensors",
// or "weights.safetensors" when size is 1.
std::string PackedWeightsFileName(int64_t rank, int64_t size);

// The bytes of one plan weight as the plan keeps it in memory: its slice of
// the checkpoint tensor its source names, converted to its storage type
// (round to nearest even, as the runtime converts on load). `out` is
// resized to the weight's size.
absl::Status ReadPlanWeight(const Checkpoint& checkpoint, plan_ir::WeightOp op,
                            std::vector<uint8_t>& out);

// Packs the weights of `module`'s plan.program (lowered, with checkpoint
// sources) from `checkpoint` into `plan_dir` and rewrites the program's
// weight sources. Errors name the tensor or file.
absl::Status PackWeights(mlir::ModuleOp module, const Checkpoint& checkpoint,
                         const std::string& plan_dir);

}  // namespace bloom
