// bloom-compile --pack-weights: writes the weights one rank's plan reads
// (its slices of the checkpoint's tensors, converted to the plan's storage
// types, or quantized) into PLAN_DIR/rank<R>.safetensors
// (PLAN_DIR/weights.safetensors for a tp=1 plan,
// PLAN_DIR/stage<S>.rank<R>.safetensors for a pipeline stage's), and points
// the plan at them.
//
// After packing, every plan.weight reads the whole tensor named after its
// graph name from that file, stored in its own storage type (no slice, no
// conversion, no quantize(...)), and the program's checkpoint directory is
// PLAN_DIR (made absolute): the runtime loads a packed plan exactly as any
// other plan, and reads only this rank's bytes, already converted.
//
// A quantized weight's three tensors (values i8/i4, scales f16, zero points
// i8; docs/quantization.md) are packed as the bytes the runtime would make
// at load (runtime/exec/quantized_weight_maker.h): the float source slice
// quantized by runtime/support/weight_quantizer.h with f16 scales. So a
// packed plan, a disk unit and a plan quantized at load hold the same bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "compiler/PlanEmitter.h"
#include "dialects/Plan/PlanOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "runtime/checkpoint/checkpoint.h"
#include "runtime/support/weight_quantizer.h"

namespace bloom {

// The packed weight file of a mesh position, named as its plan file is
// (compiler/PlanEmitter.h): "weights.safetensors" on one device,
// "rank<R>.safetensors" with tensor parallelism alone,
// "stage<S>.rank<R>.safetensors" with pp_size > 1.
std::string PackedWeightsFileName(const PlanPosition& at);

// Reads the bytes of plan weights as the plan keeps them in memory: a
// float weight's slice of the checkpoint tensor its source names, converted
// to its storage type (round to nearest even, as the runtime converts on
// load); a quantize(...) weight's part of its source slice quantized. The
// reader keeps the last source it quantized, so the parts of one weight
// read one after another (as a program declares them) quantize it once.
class PlanWeightReader {
 public:
  explicit PlanWeightReader(const Checkpoint& checkpoint) : checkpoint_(checkpoint) {}

  // `out` is resized to the weight's size. Errors name the tensor.
  absl::Status Read(plan_ir::WeightOp op, std::vector<uint8_t>& out);

 private:
  const Checkpoint& checkpoint_;
  std::string quantized_key_;  // the source in quantized_: tensor, slice, format, group
  QuantizedMatrix quantized_;
};

// One weight's bytes through a reader of its own (see PlanWeightReader).
absl::Status ReadPlanWeight(const Checkpoint& checkpoint, plan_ir::WeightOp op,
                            std::vector<uint8_t>& out);

// Packs the weights of `module`'s plan.program (lowered, with checkpoint
// sources) from `checkpoint` into `plan_dir` and rewrites the program's
// weight sources. Errors name the tensor or file.
absl::Status PackWeights(mlir::ModuleOp module, const Checkpoint& checkpoint,
                         const std::string& plan_dir);

}  // namespace bloom
