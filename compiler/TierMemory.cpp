// --bloom-tier-memory (see Passes.td): weight units placed on device, host
// or disk by the cost model of TierPlacement.h; the offloaded ones streamed
// through a ring of device slots with prefetch/await ops.
#include <optional>
#include <string>

#include "compiler/KernelContract.h"
#include "compiler/Liveness.h"
#include "compiler/Passes.h"
#include "compiler/TierPlacement.h"
#include "dialects/Bloom/BloomOps.h"
#include "dialects/Bloom/TensorNames.h"
#include "dialects/Plan/PlanDialect.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/Support/MathExtras.h"
#include "mlir/IR/Builders.h"

namespace bloom {

#define GEN_PASS_DEF_BLOOMTIERMEMORY
#include "compiler/Passes.h.inc"

namespace {

using mlir::LogicalResult;

// The unit a weight streams with, by its canonical checkpoint name.
std::string UnitOf(llvm::StringRef name) {
  if (std::optional<int64_t> layer = graph::LayerOfTensorName(name)) {
    return "h." + std::to_string(*layer);
  }
  if (name.starts_with("word_embeddings")) return "embedding";
  if (name.starts_with("ln_f.") || name.starts_with("lm_head.")) return "head";
  return name.split('.').first.str();
}

// A run of consecutive weight-reading ops that read the unit: [first, last]
// indices into the step's op list.
struct Visit {
  int64_t first = 0, last = 0;
};

struct UnitLayout {
  std::string name;
  llvm::SmallVector<graph::WeightOp> weights;  // first-use order
  llvm::SmallVector<int64_t> offsets;          // byte offset of each weight
  int64_t bytes = 0;                           // multiple of 4096
  llvm::SmallVector<Visit> visits;
};

int64_t WeightBytes(graph::WeightOp weight) { return TensorStorageBytes(weight.getType()); }

// The weights `op` reads: its bloom.weight operands, and those of the
// dequantizes it reads (a quantized weight's values, scales and zero points
// stream with the op that reads them).
llvm::SmallVector<graph::WeightOp> WeightsRead(mlir::Operation& op) {
  llvm::SmallVector<graph::WeightOp> weights;
  for (mlir::Value operand : op.getOperands()) {
    if (auto weight = operand.getDefiningOp<graph::WeightOp>()) weights.push_back(weight);
    if (auto dequantize = operand.getDefiningOp<graph::DequantizeOp>()) {
      for (mlir::Value part : dequantize->getOperands()) {
        if (auto weight = part.getDefiningOp<graph::WeightOp>()) weights.push_back(weight);
      }
    }
  }
  return weights;
}

class BloomTierMemoryPass : public impl::BloomTierMemoryBase<BloomTierMemoryPass> {
 public:
  using BloomTierMemoryBase::BloomTierMemoryBase;

  void runOnOperation() override {
    if (mlir::failed(Run(getOperation()))) signalPassFailure();
  }

 private:
  LogicalResult Run(mlir::ModuleOp module) {
    auto fail = [&](const llvm::Twine& message) {
      return module.emitError() << "bloom-tier-memory: " << message;
    };
    std::optional<Tier> forced;
    if (offload == "host") {
      forced = Tier::kHost;
    } else if (offload == "disk") {
      forced = Tier::kDisk;
    } else if (!offload.empty()) {
      return fail("offload must be host or disk, got '" + offload + "'");
    }
    if (slots < 2) return fail("slots must be at least 2, got " + llvm::Twine(slots));
    if (forced == Tier::kDisk && diskBudget == 0) {
      return fail("offload=disk needs a disk tier (disk-budget other than 0)");
    }
    if (forced == Tier::kHost && hostMemory == 0) {
      return fail("offload=host needs a host tier (host-memory other than 0)");
    }
    for (auto [name, value] : {std::pair<const char*, double>{"device-bandwidth", deviceBandwidth},
                               {"h2d-bandwidth", h2dBandwidth},
                               {"disk-bandwidth", diskBandwidth}}) {
      if (!(value > 0)) return fail(llvm::Twine(name) + " must be positive");
    }
    auto step = module.lookupSymbol<mlir::func::FuncOp>("step");
    auto memory = module->getAttrOfType<mlir::DictionaryAttr>(kMemoryPlanAttr);
    if (!step || !step.getBody().hasOneBlock() || !memory) {
      return fail("no memory plan; run --bloom-plan-memory first");
    }
    auto get = [&](llvm::StringRef key) -> int64_t {
      auto attr = memory.getAs<mlir::IntegerAttr>(key);
      return attr ? attr.getInt() : 0;
    };

    llvm::SmallVector<mlir::Operation*> ops;
    llvm::MapVector<llvm::StringRef, UnitLayout> units;  // keyed by unit name
    llvm::StringMap<std::string> names;                  // storage for keys
    Collect(step, ops, units, names);

    std::vector<TierUnit> tier_units;
    for (auto& [name, unit] : units) {
      tier_units.push_back({unit.name, unit.bytes, static_cast<int64_t>(unit.visits.size())});
    }
    TierBudgets budgets;
    budgets.device = deviceMemory > 0 ? static_cast<int64_t>(deviceMemory) : -1;
    budgets.host = hostMemory;
    budgets.disk = diskBudget;
    budgets.device_fixed =
        get("kv_cache_bytes") + get("activations_bytes") + get("workspace_bytes");
    budgets.num_slots = slots;
    budgets.forced = forced;
    LinkBandwidths links{deviceBandwidth, h2dBandwidth, diskBandwidth};
    const int64_t sequences = std::max<int64_t>(get("max_sequences"), 1);
    auto placed =
        PlaceWeightUnits(tier_units, budgets, links, get("kv_cache_bytes") / sequences, sequences);
    if (auto* error = std::get_if<std::string>(&placed)) return fail(*error);
    const TierPlan& plan = std::get<TierPlan>(placed);

    // Offloaded unit k, in first-use order, streams into slot k mod slots.
    llvm::SmallVector<int64_t> slot_of(units.size(), -1);
    int64_t streamed = 0;
    for (size_t i = 0; i < units.size(); ++i) {
      if (plan.tiers[i] != Tier::kDevice) slot_of[i] = streamed++ % plan.num_slots;
    }
    if (mlir::failed(InsertStreaming(step, ops, units, slot_of, plan.num_slots))) {
      return mlir::failure();
    }
    Record(module, units, plan, slot_of, links, budgets);
    return mlir::success();
  }

  // The step's ops (weights aside) in order; the units, each weight at its
  // offset in first-use order; each unit's visits.
  void Collect(mlir::func::FuncOp step, llvm::SmallVector<mlir::Operation*>& ops,
               llvm::MapVector<llvm::StringRef, UnitLayout>& units,
               llvm::StringMap<std::string>& names) {
    auto unit_of = [&](graph::WeightOp weight) -> UnitLayout& {
      std::string name = UnitOf(weight.getName());
      auto [it, inserted] = names.try_emplace(name, name);
      UnitLayout& unit = units[it->getKey()];
      if (inserted) unit.name = name;
      return unit;
    };
    llvm::DenseSet<mlir::Operation*> placed;
    // Weight-reading ops before index i: a unit's visit ends when another
    // op reading weights comes between two of its reads.
    int64_t readers = 0;
    llvm::DenseMap<UnitLayout*, int64_t> readers_at_last;
    for (mlir::Operation& op : step.getBody().front()) {
      if (mlir::isa<graph::WeightOp, graph::DequantizeOp>(op)) continue;
      const int64_t index = static_cast<int64_t>(ops.size());
      ops.push_back(&op);
      llvm::SmallPtrSet<UnitLayout*, 2> read;
      for (graph::WeightOp weight : WeightsRead(op)) {
        UnitLayout& unit = unit_of(weight);
        read.insert(&unit);
        if (placed.insert(weight).second) unit.weights.push_back(weight);
      }
      for (UnitLayout* unit : read) {
        auto last = readers_at_last.find(unit);
        if (last != readers_at_last.end() && last->second == readers - 1) {
          unit->visits.back().last = index;  // no other reader in between
        } else {
          unit->visits.push_back({index, index});
        }
      }
      if (!read.empty()) {
        for (UnitLayout* unit : read) readers_at_last[unit] = readers;
        ++readers;
      }
    }
    for (auto weight : step.getOps<graph::WeightOp>()) {
      if (!placed.contains(weight)) unit_of(weight).weights.push_back(weight);
    }
    for (auto& [name, unit] : units) {
      int64_t cursor = 0;
      for (graph::WeightOp weight : unit.weights) {
        cursor = static_cast<int64_t>(llvm::alignTo(cursor, plan_ir::kWeightSlotAlignment));
        unit.offsets.push_back(cursor);
        cursor += WeightBytes(weight);
      }
      unit.bytes = static_cast<int64_t>(
          llvm::alignTo(std::max<int64_t>(cursor, 1), plan_ir::kWeightUnitAlignment));
    }
  }

  // Prefetch after the last op of the slot's previous visit (at the step's
  // first op for a slot's first visit), await before the visit's first op.
  LogicalResult InsertStreaming(mlir::func::FuncOp step, llvm::ArrayRef<mlir::Operation*> ops,
                                llvm::MapVector<llvm::StringRef, UnitLayout>& units,
                                llvm::ArrayRef<int64_t> slot_of, int64_t num_slots) {
    struct Event {
      int64_t before;  // index into ops
      bool await;      // prefetches first at one point: the copy starts sooner
      const UnitLayout* unit;
    };
    std::vector<Event> events;
    mlir::Builder b(step.getContext());
    for (int64_t slot = 0; slot < num_slots; ++slot) {
      std::vector<std::pair<Visit, const UnitLayout*>> visits;
      for (auto [index, entry] : llvm::enumerate(units)) {
        if (slot_of[index] != slot) continue;
        UnitLayout& unit = entry.second;
        for (const Visit& visit : unit.visits) visits.push_back({visit, &unit});
        for (auto [weight, offset] : llvm::zip(unit.weights, unit.offsets)) {
          weight->setAttr(kStreamUnitAttr, b.getStringAttr(unit.name));
          weight->setAttr(kSlotOffsetAttr, b.getI64IntegerAttr(offset));
        }
      }
      llvm::sort(visits,
                 [](const auto& a, const auto& b) { return a.first.first < b.first.first; });
      for (size_t i = 0; i < visits.size(); ++i) {
        const auto& [visit, unit] = visits[i];
        if (i > 0 && visits[i - 1].first.last >= visit.first) {
          return ops[visit.first]->emitError()
                 << "bloom-tier-memory: units '" << visits[i - 1].second->name << "' and '"
                 << unit->name << "' share slot " << slot
                 << " but are read at the same time; use more slots";
        }
        events.push_back({i == 0 ? 0 : visits[i - 1].first.last + 1, false, unit});
        events.push_back({visit.first, true, unit});
      }
    }
    std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
      return a.before != b.before ? a.before < b.before : !a.await && b.await;
    });
    mlir::OpBuilder builder(step.getContext());
    // A slot's first prefetch opens the step, ahead of the weights too.
    mlir::Operation* top = &step.getBody().front().front();
    for (const Event& event : events) {
      builder.setInsertionPoint(event.before == 0 && !event.await ? top : ops[event.before]);
      mlir::StringAttr name = builder.getStringAttr(event.unit->name);
      mlir::Location loc = mlir::NameLoc::get(name);
      if (event.await) {
        builder.create<graph::AwaitWeightsOp>(loc, name);
      } else {
        builder.create<graph::PrefetchWeightsOp>(loc, name);
      }
    }
    return mlir::success();
  }

  void Record(mlir::ModuleOp module, llvm::MapVector<llvm::StringRef, UnitLayout>& units,
              const TierPlan& plan, llvm::ArrayRef<int64_t> slot_of, const LinkBandwidths& links,
              const TierBudgets& budgets) {
    mlir::Builder b(module.getContext());
    llvm::SmallVector<mlir::Attribute> unit_attrs;
    int64_t file_offset = 0;
    for (auto [index, entry] : llvm::enumerate(units)) {
      const UnitLayout& unit = entry.second;
      llvm::SmallVector<mlir::NamedAttribute> fields = {
          b.getNamedAttr("name", b.getStringAttr(unit.name)),
          b.getNamedAttr("residency", b.getStringAttr(TierName(plan.tiers[index]))),
          b.getNamedAttr("bytes", b.getI64IntegerAttr(unit.bytes)),
          b.getNamedAttr("visits", b.getI64IntegerAttr(static_cast<int64_t>(unit.visits.size()))),
          b.getNamedAttr("slot", b.getI64IntegerAttr(slot_of[index])),
      };
      // Disk units follow each other in the units file, 4096-aligned since
      // every unit's size is a multiple of 4096.
      if (plan.tiers[index] == Tier::kDisk) {
        fields.push_back(b.getNamedAttr("file_offset", b.getI64IntegerAttr(file_offset)));
        file_offset += unit.bytes;
      }
      unit_attrs.push_back(b.getDictionaryAttr(fields));
    }
    auto i64 = [&](llvm::StringRef key, int64_t value) {
      return b.getNamedAttr(key, b.getI64IntegerAttr(value));
    };
    auto f64 = [&](llvm::StringRef key, double value) {
      return b.getNamedAttr(key, b.getF64FloatAttr(value));
    };
    llvm::SmallVector<mlir::NamedAttribute> fields = {
        b.getNamedAttr("units", b.getArrayAttr(unit_attrs)),
        i64("num_slots", plan.num_slots),
        i64("slot_bytes", plan.slot_bytes),
        i64("device_budget", budgets.device),
        i64("host_budget", budgets.host),
        i64("disk_budget", budgets.disk),
        i64("device_fixed_bytes", budgets.device_fixed),
        i64("device_weights_bytes", plan.device_weights),
        i64("host_weights_bytes", plan.host_weights),
        i64("disk_weights_bytes", plan.disk_weights),
        i64("host_staging_bytes", plan.host_staging),
        i64("streamed_bytes_per_step", plan.streamed_per_step),
        f64("device_bandwidth", links.device),
        f64("h2d_bandwidth", links.host_to_device),
        f64("disk_bandwidth", links.disk_to_host),
        f64("resident_seconds", plan.resident_seconds),
        f64("stream_seconds", plan.stream_seconds),
        b.getNamedAttr("units_file", b.getStringAttr(unitsFile)),
    };
    module->setAttr(kTieringAttr, b.getDictionaryAttr(fields));
  }
};

}  // namespace
}  // namespace bloom
