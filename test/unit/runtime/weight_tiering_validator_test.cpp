// Tests that the plan loader refuses every inconsistent memory-tiering field
// (WeightUnit, Tensor.stream_unit / slot_offset, the slot discipline of
// PrefetchWeights / AwaitWeights) with one message naming the plan file and
// the field, and accepts the hand-written tiered plans (tiered_test_plan.h).
#include <gtest/gtest.h>

#include "runtime/plan/plan_loader.h"
#include "test/unit/runtime/tiered_test_plan.h"

namespace bloom {
namespace {

using plan::Kernel;
using plan::Residency;
using testing::FindStreamInstruction;
using testing::FindTensor;
using testing::MakeTieredPlanSpec;
using testing::TieredPlanSpec;
using testing::TieringLayout;

// Three layers: h.0 from host (slot 0), h.1 from disk (slot 1), h.2 from
// disk (slot 0, after h.0).
TieredPlanSpec Spec() {
  testing::TpModelDims dims;
  dims.layers = 3;
  return MakeTieredPlanSpec(dims, "/ckpt", {{Residency::Host, Residency::Disk, Residency::Disk}});
}

absl::Status Load(const TieredPlanSpec& spec) {
  return LoadedPlan::FromBytes(testing::SerializeTieredPlan(spec), "tiered.bplan").status();
}

void ExpectRefused(const TieredPlanSpec& spec, const std::string& needle) {
  const absl::Status status = Load(spec);
  ASSERT_FALSE(status.ok()) << "expected an error containing '" << needle << "'";
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(status.message().find("tiered.bplan: "), 0u) << status;
  EXPECT_NE(status.message().find(needle), std::string::npos) << status;
}

TEST(WeightTieringValidatorTest, AcceptsHandWrittenTieredPlans) {
  EXPECT_TRUE(Load(Spec()).ok()) << Load(Spec());
  testing::TpModelDims dims;
  dims.layers = 3;
  for (int slots : {1, 2, 3}) {
    TieringLayout layout{{Residency::Disk, Residency::Device, Residency::Host}, slots};
    EXPECT_TRUE(Load(MakeTieredPlanSpec(dims, "/ckpt", layout)).ok()) << slots;
  }
  EXPECT_TRUE(Load(MakeTieredPlanSpec(dims, "/ckpt", {})).ok());
}

TEST(WeightTieringValidatorTest, UnitNamesAreUnique) {
  TieredPlanSpec spec = Spec();
  spec.units[2].name = "h.1";
  ExpectRefused(spec, "weight_units[2] 'h.1': name is not unique");
}

TEST(WeightTieringValidatorTest, UnitResidencyIsHostOrDisk) {
  TieredPlanSpec spec = Spec();
  spec.units[1].residency = Residency::Device;
  ExpectRefused(spec, "weight_units[1] 'h.1': residency must be Host or Disk, not Device");
  spec.units[1].residency = static_cast<Residency>(7);
  ExpectRefused(spec, "residency must be Host or Disk, not an unknown value");
}

TEST(WeightTieringValidatorTest, UnitBytesAreWholeBlocksThatFitTheSlot) {
  TieredPlanSpec spec = Spec();
  spec.units[0].bytes += 100;
  ExpectRefused(spec, "weight_units[0] 'h.0': bytes 114788 is not a positive multiple of 4096");
  spec = Spec();
  spec.units[0].bytes = 0;
  ExpectRefused(spec, "bytes 0 is not a positive multiple of 4096");
  spec = Spec();
  spec.weight_slot_bytes = 4096 * 27;
  ExpectRefused(spec, "weight_units[0] 'h.0': bytes 114688 exceed weight_slot_bytes 110592");
}

TEST(WeightTieringValidatorTest, UnitSlotIsOneOfTheSlots) {
  TieredPlanSpec spec = Spec();
  spec.units[1].slot = 2;
  ExpectRefused(spec, "weight_units[1] 'h.1': slot 2 is outside num_weight_slots 2");
  spec.units[1].slot = -1;
  ExpectRefused(spec, "slot -1 is outside num_weight_slots 2");
}

TEST(WeightTieringValidatorTest, SlotCountAndSizeMatchTheUnits) {
  TieredPlanSpec spec = Spec();
  spec.num_weight_slots = 0;
  ExpectRefused(spec, "num_weight_slots is 0; a plan with 3 weight unit(s) needs 1 to 1024");
  spec = Spec();
  spec.weight_slot_bytes = 0;
  ExpectRefused(spec, "weight_slot_bytes is 0");
  testing::TpModelDims dims;
  spec = MakeTieredPlanSpec(dims, "/ckpt", {});
  spec.num_weight_slots = 2;
  ExpectRefused(spec, "num_weight_slots 2 and weight_slot_bytes 0 given but weight_units is empty");
}

TEST(WeightTieringValidatorTest, DiskFileIsRelativeAndInsideThePlanDirectory) {
  for (const char* file : {"", "/etc/weights.tier", "../weights.tier", "a/../../b"}) {
    TieredPlanSpec spec = Spec();
    spec.units[1].file = file;
    ExpectRefused(spec, "weight_units[1] 'h.1': file '" + std::string(file) +
                            "' must be a relative path inside the plan directory");
  }
  TieredPlanSpec spec = Spec();
  spec.units[1].file = "tier/..weights";  // a name with dots, not a parent
  EXPECT_TRUE(Load(spec).ok()) << Load(spec);
}

TEST(WeightTieringValidatorTest, DiskOffsetIsAligned) {
  TieredPlanSpec spec = Spec();
  spec.units[2].file_offset += 512;
  ExpectRefused(spec, "weight_units[2] 'h.2': file_offset 115200 is not 4096-byte aligned");
}

TEST(WeightTieringValidatorTest, HostUnitNamesNoFile) {
  TieredPlanSpec spec = Spec();
  spec.units[0].file = "weights.tier";
  ExpectRefused(spec, "weight_units[0] 'h.0': a Host unit has no file or file_offset");
}

TEST(WeightTieringValidatorTest, StreamedTensorsLieAlignedInsideTheirUnit) {
  TieredPlanSpec spec = Spec();
  const int dense = FindTensor(spec, "h.1.self_attention.dense.weight");
  spec.tensors[dense].slot_offset += 64;
  ExpectRefused(spec,
                "'h.1.self_attention.dense.weight': slot_offset 28992 is not 256-byte aligned");
  spec = Spec();
  const int up = FindTensor(spec, "h.2.mlp.dense_h_to_4h.weight");
  spec.tensors[up].slot_offset = 114688 - 36864 + 256;
  ExpectRefused(
      spec,
      "'h.2.mlp.dense_h_to_4h.weight': bytes [78080, 114944) end past unit 'h.2' (114688 bytes)");
}

TEST(WeightTieringValidatorTest, StreamedTensorsDoNotOverlap) {
  TieredPlanSpec spec = Spec();
  const int qkv = FindTensor(spec, "h.0.self_attention.query_key_value.weight");
  const int bias = FindTensor(spec, "h.0.self_attention.query_key_value.bias");
  spec.tensors[bias].slot_offset = spec.tensors[qkv].slot_offset + 27648 - 256;
  ExpectRefused(spec,
                "tensors 'h.0.self_attention.query_key_value.weight' and "
                "'h.0.self_attention.query_key_value.bias' overlap in unit 'h.0'");
}

TEST(WeightTieringValidatorTest, StreamUnitIsAUnitOfAWeight) {
  TieredPlanSpec spec = Spec();
  spec.tensors[FindTensor(spec, "ln_f.weight")].stream_unit = 3;
  ExpectRefused(spec, "'ln_f.weight': stream_unit 3 is not one of the plan's 3 weight_units");
  spec = Spec();
  spec.tensors[FindTensor(spec, "h.0.attn_norm")].stream_unit = 0;
  ExpectRefused(spec, "'h.0.attn_norm': only a weight can have a stream_unit");
  spec = Spec();
  spec.tensors[FindTensor(spec, "ln_f.weight")].slot_offset = 256;
  ExpectRefused(spec, "'ln_f.weight': slot_offset given but stream_unit is -1");
}

TEST(WeightTieringValidatorTest, EveryUnitHasTensors) {
  TieredPlanSpec spec = Spec();
  spec.units.push_back({"spare", Residency::Host, 4096, 1});
  ExpectRefused(spec, "weight_units[3] 'spare': no tensor streams with it");
}

TEST(WeightTieringValidatorTest, ReadsFollowTheirUnitsAwait) {
  TieredPlanSpec spec = Spec();
  spec.instructions.erase(spec.instructions.begin() +
                          FindStreamInstruction(spec, Kernel::AwaitWeights, 0));
  ExpectRefused(spec,
                "(LayerNorm): reads 'h.0.input_layernorm.weight' of unit 'h.0' (slot 0) before its "
                "AwaitWeights (prefetched at instruction 0)");
}

TEST(WeightTieringValidatorTest, ReadsPrecedeTheNextPrefetchIntoTheSlot) {
  // h.2 prefetched into slot 0 right after h.0's await: h.0's reads then
  // find h.2 there.
  TieredPlanSpec spec = Spec();
  const int prefetch = FindStreamInstruction(spec, Kernel::PrefetchWeights, 2);
  const auto moved = spec.instructions[prefetch];
  spec.instructions.erase(spec.instructions.begin() + prefetch);
  const int await = FindStreamInstruction(spec, Kernel::AwaitWeights, 0);
  spec.instructions.insert(spec.instructions.begin() + await + 1, moved);
  ExpectRefused(spec,
                "reads 'h.0.input_layernorm.weight' of unit 'h.0' (slot 0) while the slot holds "
                "'h.2' (PrefetchWeights at instruction " +
                    std::to_string(await + 1) + ")");
}

TEST(WeightTieringValidatorTest, AwaitsFollowAPrefetchOfTheirUnit) {
  TieredPlanSpec spec = Spec();
  spec.instructions.erase(spec.instructions.begin() +
                          FindStreamInstruction(spec, Kernel::PrefetchWeights, 1));
  ExpectRefused(
      spec,
      "(AwaitWeights): awaits unit 'h.1' but the latest PrefetchWeights into its slot 1 is none");
  // Awaiting h.0 once h.2 has taken its slot.
  spec = Spec();
  spec.instructions.push_back({Kernel::AwaitWeights, {}, {}, {}, 0, 0});
  ExpectRefused(spec,
                "awaits unit 'h.0' but the latest PrefetchWeights into its slot 0 is of 'h.2'");
  // Reading without any prefetch at all.
  spec = Spec();
  spec.instructions.erase(spec.instructions.begin() +
                          FindStreamInstruction(spec, Kernel::AwaitWeights, 0));
  spec.instructions.erase(spec.instructions.begin() +
                          FindStreamInstruction(spec, Kernel::PrefetchWeights, 0));
  ExpectRefused(
      spec,
      "reads 'h.0.input_layernorm.weight' of unit 'h.0' (slot 0) before any PrefetchWeights of it");
}

TEST(WeightTieringValidatorTest, StreamingInstructionsNameAUnitAndNoTensors) {
  TieredPlanSpec spec = Spec();
  spec.instructions[FindStreamInstruction(spec, Kernel::PrefetchWeights, 1)].unit = 9;
  ExpectRefused(spec, "(PrefetchWeights): unit 9 is not one of the plan's 3 weight_units");
  spec = Spec();
  spec.instructions[FindStreamInstruction(spec, Kernel::AwaitWeights, 1)].operands = {0};
  ExpectRefused(spec, "(AwaitWeights): takes 0 operands and 0 result(s); got 1 and 0");
}

}  // namespace
}  // namespace bloom
