// Verifiers of memory tiering in the `plan` dialect (--bloom-tier-memory):
// the slot ring's attributes, the weight units, streamed weights inside
// their units, and the slot discipline of prefetch/await in program order.
#include "dialects/Plan/WeightStreaming.h"

#include <string>
#include <utility>
#include <vector>

#include "dialects/Plan/PlanDialect.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringMap.h"

namespace bloom::plan_ir {

using mlir::LogicalResult;

namespace {

uint64_t SlotIndex(const llvm::StringMap<WeightUnitOp>& units, llvm::StringRef name) {
  return units.lookup(name).getSlot();
}

// The slot discipline of streamed weights, simulated in program order: a
// prefetch makes its unit the slot's pending occupant, an await (of that
// unit) makes it ready, and a kernel may read a streamed weight only while
// its unit is the ready occupant of its slot. Units are checked by their
// own verifiers; here only the order is.
LogicalResult VerifySlotDiscipline(ProgramOp program) {
  llvm::StringMap<WeightUnitOp> units;
  for (auto unit : program.getBody().getOps<WeightUnitOp>()) {
    if (!units.try_emplace(unit.getName(), unit).second) {
      return unit.emitOpError() << "repeats the unit name '" << unit.getName() << "'";
    }
  }
  // No two weights of one unit share bytes.
  llvm::StringMap<std::vector<std::pair<int64_t, WeightOp>>> members;
  for (auto weight : program.getBody().getOps<WeightOp>()) {
    if (weight.getStreamUnit() && weight.getSlotOffset()) {
      members[*weight.getStreamUnit()].push_back({*weight.getSlotOffset(), weight});
    }
  }
  for (auto& [name, weights] : members) {
    llvm::sort(weights, [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 1; i < weights.size(); ++i) {
      int64_t end = weights[i - 1].first + ArenaBytes(weights[i - 1].second.getType(), 1);
      if (weights[i].first < end) {
        return weights[i].second.emitOpError()
               << "overlaps '" << weights[i - 1].second.getName() << "' in unit '" << name << "'";
      }
    }
  }
  struct SlotState {
    llvm::StringRef unit;  // empty: nothing prefetched into the slot yet
    bool ready = false;
  };
  // Keyed by slot index, filled on first use: the slot count is an attribute
  // of the input and must not size an allocation. Slots out of range are
  // left to WeightUnitOp's verifier.
  const uint64_t num_slots = program.getNumWeightSlots().value_or(0);
  llvm::DenseMap<uint64_t, SlotState> slots;
  auto slot_of = [&](llvm::StringRef name) -> SlotState* {
    auto it = units.find(name);
    if (it == units.end()) return nullptr;
    uint64_t slot = it->second.getSlot();
    return slot < num_slots ? &slots[slot] : nullptr;
  };
  for (mlir::Operation& op : program.getBody().getOps()) {
    if (auto prefetch = mlir::dyn_cast<PrefetchWeightsOp>(op)) {
      SlotState* slot = slot_of(prefetch.getUnit());
      if (!slot) continue;
      // Every copy into a slot is awaited before the next one starts: a
      // runtime may run copies on several streams, and an unawaited copy
      // still writing the slot would race the next.
      if (!slot->unit.empty() && !slot->ready) {
        return prefetch.emitOpError()
               << "prefetches '" << prefetch.getUnit() << "' into slot "
               << SlotIndex(units, prefetch.getUnit()) << " while the copy of '" << slot->unit
               << "' into it is not yet awaited";
      }
      *slot = {prefetch.getUnit(), false};
      continue;
    }
    if (auto await = mlir::dyn_cast<AwaitWeightsOp>(op)) {
      SlotState* slot = slot_of(await.getUnit());
      if (slot && slot->unit != await.getUnit()) {
        return await.emitOpError()
               << "awaits '" << await.getUnit() << "' but the last prefetch into its slot "
               << (slot->unit.empty() ? std::string("is none")
                                      : "was of '" + slot->unit.str() + "'");
      }
      if (slot) slot->ready = true;
      continue;
    }
    if (mlir::isa<WeightOp, WeightUnitOp, InputOp, BufferOp>(op)) continue;
    for (mlir::Value operand : op.getOperands()) {
      auto weight = operand.getDefiningOp<WeightOp>();
      if (!weight || !weight.getStreamUnit()) continue;
      SlotState* slot = slot_of(*weight.getStreamUnit());
      if (slot && (slot->unit != *weight.getStreamUnit() || !slot->ready)) {
        return op.emitOpError() << "reads streamed weight '" << weight.getName() << "' of unit '"
                                << *weight.getStreamUnit()
                                << "' outside its await..prefetch window (its slot holds "
                                << (slot->unit.empty()
                                        ? std::string("nothing")
                                        : "'" + slot->unit.str() + "'" +
                                              (slot->ready ? "" : ", not yet awaited"))
                                << ")";
      }
    }
  }
  return mlir::success();
}

}  // namespace

// The weight unit `name` of the program around `op`, or null with an error.
WeightUnitOp FindWeightUnit(mlir::Operation* op, llvm::StringRef name) {
  auto program = op->getParentOfType<ProgramOp>();
  for (auto unit : program.getBody().getOps<WeightUnitOp>()) {
    if (unit.getName() == name) return unit;
  }
  op->emitOpError() << "names weight unit '" << name << "', which the program does not declare";
  return nullptr;
}

LogicalResult VerifyWeightStreaming(ProgramOp program) {
  if (program.getNumWeightSlots().has_value() != program.getWeightSlotBytes().has_value()) {
    return program.emitOpError("needs both num_weight_slots and weight_slot_bytes or neither");
  }
  // A ring of one slot would serialize every copy with the compute that
  // reads the slot: the next unit's copy could only start after the last
  // read of the previous one.
  if (program.getNumWeightSlots() && *program.getNumWeightSlots() < 2) {
    return program.emitOpError() << "has " << *program.getNumWeightSlots()
                                 << " weight slot; streaming needs a ring of at least 2";
  }
  if (program.getWeightSlotBytes() && *program.getWeightSlotBytes() % kWeightUnitAlignment != 0) {
    return program.emitOpError() << "weight slots of " << *program.getWeightSlotBytes()
                                 << " bytes are not a multiple of " << kWeightUnitAlignment;
  }
  return VerifySlotDiscipline(program);
}

LogicalResult VerifyStreamedWeight(WeightOp weight) {
  if (weight.getStreamUnit().has_value() != weight.getSlotOffset().has_value()) {
    return weight.emitOpError("needs both stream_unit and slot_offset or neither");
  }
  if (!weight.getStreamUnit()) return mlir::success();
  WeightUnitOp unit = FindWeightUnit(weight, *weight.getStreamUnit());
  if (!unit) return mlir::failure();
  int64_t offset = *weight.getSlotOffset();
  int64_t bytes = ArenaBytes(weight.getType(), 1);
  if (offset < 0 || offset % kWeightSlotAlignment != 0 ||
      offset + bytes > static_cast<int64_t>(unit.getBytes())) {
    return weight.emitOpError() << "at slot offset " << offset << " (" << bytes
                                << " bytes) is not a " << kWeightSlotAlignment
                                << "-aligned range inside unit '" << unit.getName() << "' of "
                                << unit.getBytes() << " bytes";
  }
  return mlir::success();
}

LogicalResult WeightUnitOp::verify() {
  if (getName().empty()) return emitOpError("needs a non-empty name");
  auto program = getParentOp();
  if (!program.getNumWeightSlots()) {
    return emitOpError("needs the program's weight_slots(count, bytes)");
  }
  if (getSlot() >= *program.getNumWeightSlots()) {
    return emitOpError() << "streams into slot " << getSlot() << " of "
                         << *program.getNumWeightSlots();
  }
  if (getBytes() % kWeightUnitAlignment != 0) {
    return emitOpError() << "has " << getBytes() << " bytes, not a multiple of "
                         << kWeightUnitAlignment;
  }
  if (getBytes() > *program.getWeightSlotBytes()) {
    return emitOpError() << "has " << getBytes() << " bytes but a slot holds "
                         << *program.getWeightSlotBytes();
  }
  bool disk = getResidency() == Residency::Disk;
  if (disk != getFile().has_value()) {
    return emitOpError(disk ? "on disk needs a file and offset" : "in host memory has no file");
  }
  if (disk) {
    llvm::StringRef file = *getFile();
    if (file.empty() || file.starts_with("/") || file == ".." || file.starts_with("../") ||
        file.contains("/../") || file.ends_with("/..")) {
      return emitOpError() << "file '" << file << "' must be a path inside the plan directory";
    }
    if (*getFileOffset() % kWeightUnitAlignment != 0) {
      return emitOpError() << "file offset " << *getFileOffset() << " is not a multiple of "
                           << kWeightUnitAlignment;
    }
  }
  return mlir::success();
}

LogicalResult PrefetchWeightsOp::verify() {
  return mlir::success(FindWeightUnit(*this, getUnit()) != nullptr);
}

LogicalResult AwaitWeightsOp::verify() {
  return mlir::success(FindWeightUnit(*this, getUnit()) != nullptr);
}

}  // namespace bloom::plan_ir
