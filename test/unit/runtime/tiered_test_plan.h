// The small transformer of test/unit/comm/tp_test_model.h as a tp=1 plan
// whose layers' weights may be streamed (memory tiering), written by hand so
// that runtime tests do not depend on the compiler's --bloom-tier-memory:
// each layer is resident, or one WeightUnit streamed from host memory or
// from a disk file in the plan directory, rotating through a ring of slots.
// The plan is kept as a mutable spec, so validator tests can break one field
// at a time.
//
// Program of a streamed plan with S slots and streamed layers u = 0, 1, ...
// (unit u in slot u mod S): PrefetchWeights of units 0 .. S-1 first; before
// unit u's layer, AwaitWeights(u); right after it, PrefetchWeights(u + S).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/plan/plan_generated.h"
#include "test/unit/comm/tp_test_model.h"
#include "test/unit/runtime/test_plan.h"

namespace bloom::testing {

// test_plan.h's tensor (source_tensor: the checkpoint tensor, F32 in the
// file) with the memory-tiering fields.
struct TieredTensor : TestTensor {
  int32_t stream_unit = -1;
  uint64_t slot_offset = 0;
};

struct TieredInstruction {
  plan::Kernel kernel;
  std::vector<uint32_t> operands, results;
  plan::Epilogue epilogue = plan::Epilogue::None;
  int32_t layer = 0;  // AlibiAttention
  int32_t unit = 0;   // PrefetchWeights, AwaitWeights
};

struct TieredUnit {
  std::string name;
  plan::Residency residency;
  uint64_t bytes = 0;
  int32_t slot = 0;
  std::string file;
  uint64_t file_offset = 0;
};

struct TieredPlanSpec {
  TpModelDims dims;
  std::string checkpoint_dir;
  uint64_t arena_bytes = 0;
  std::vector<TieredTensor> tensors;
  std::vector<TieredInstruction> instructions;
  std::vector<TieredUnit> units;
  int32_t num_weight_slots = 0;
  uint64_t weight_slot_bytes = 0;
};

struct TieringLayout {
  // Per layer: Device (resident), Host or Disk. Shorter than dims.layers:
  // the rest are resident.
  std::vector<plan::Residency> layers;
  int32_t num_slots = 2;
  // Every weight's storage dtype (the checkpoint holds F32).
  plan::DType weight_dtype = plan::DType::F32;
  // The plan directory's file holding every Disk unit, one after another.
  std::string disk_file = "weights.tier";
};

TieredPlanSpec MakeTieredPlanSpec(const TpModelDims& dims, const std::string& checkpoint_dir,
                                  const TieringLayout& layout);
std::vector<uint8_t> SerializeTieredPlan(const TieredPlanSpec& spec);

// Writes the Disk units' bytes into `plan_dir`/<unit file>: each streamed
// tensor's weights in its storage dtype at file_offset + slot_offset,
// zeros elsewhere; as the compiler packs them.
void WriteDiskUnits(const TieredPlanSpec& spec, const TpWeights& weights,
                    const std::string& plan_dir);

// Index of the tensor named `name` (-1 if none), of the first instruction of
// `kernel` for `unit` (-1 if none).
int FindTensor(const TieredPlanSpec& spec, const std::string& name);
int FindStreamInstruction(const TieredPlanSpec& spec, plan::Kernel kernel, int32_t unit);

}  // namespace bloom::testing
