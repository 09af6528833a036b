#include "runtime/plan/weight_tiering_validator.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/plan/plan_validator.h"

namespace bloom {
namespace {

using plan::Residency;
using plan::TensorKind;

// Beyond these a plan is treated as corrupt rather than attempted: no
// device has this many slots or slots this large.
constexpr int32_t kMaxWeightSlots = 1024;
constexpr uint64_t kMaxSlotBytes = uint64_t{1} << 40;

std::string UnitName(const plan::Plan& plan, int32_t unit) {
  return absl::StrCat("'", plan.weight_units()->Get(unit)->name()->str(), "'");
}

// A path relative to the plan directory that cannot leave it.
bool StaysInside(const std::string& path) {
  if (path.empty() || path.front() == '/') return false;
  size_t begin = 0;
  while (begin <= path.size()) {
    const size_t end = std::min(path.find('/', begin), path.size());
    if (path.compare(begin, end - begin, "..") == 0) return false;
    begin = end + 1;
  }
  return true;
}

absl::Status CheckUnits(const plan::Plan& plan, absl::string_view label) {
  auto fail = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": ", why));
  };
  const auto* units = plan.weight_units();
  const size_t count = units == nullptr ? 0 : units->size();
  if (count == 0) {
    if (plan.num_weight_slots() != 0 || plan.weight_slot_bytes() != 0) {
      return fail(absl::StrCat("num_weight_slots ", plan.num_weight_slots(),
                               " and weight_slot_bytes ", plan.weight_slot_bytes(),
                               " given but weight_units is empty"));
    }
    return absl::OkStatus();
  }
  if (plan.num_weight_slots() < 1 || plan.num_weight_slots() > kMaxWeightSlots) {
    return fail(absl::StrCat("num_weight_slots is ", plan.num_weight_slots(), "; a plan with ",
                             count, " weight unit(s) needs 1 to ", kMaxWeightSlots));
  }
  if (plan.weight_slot_bytes() == 0 || plan.weight_slot_bytes() > kMaxSlotBytes) {
    return fail(absl::StrCat("weight_slot_bytes is ", plan.weight_slot_bytes(), "; must be 1 to ",
                             kMaxSlotBytes));
  }
  std::set<std::string> names;
  for (size_t u = 0; u < count; ++u) {
    const auto& unit = *units->Get(u);
    const std::string name = unit.name()->str();
    auto unit_fail = [&](absl::string_view why) {
      return fail(absl::StrCat("weight_units[", u, "] '", name, "': ", why));
    };
    if (name.empty()) return unit_fail("empty name");
    if (!names.insert(name).second) return unit_fail("name is not unique");
    if (unit.residency() != Residency::Host && unit.residency() != Residency::Disk) {
      return unit_fail(
          absl::StrCat("residency must be Host or Disk, not ",
                       unit.residency() >= Residency::MIN && unit.residency() <= Residency::MAX
                           ? plan::EnumNameResidency(unit.residency())
                           : "an unknown value"));
    }
    if (unit.bytes() == 0 || unit.bytes() % kWeightUnitAlignment != 0) {
      return unit_fail(absl::StrCat("bytes ", unit.bytes(), " is not a positive multiple of ",
                                    kWeightUnitAlignment));
    }
    if (unit.bytes() > plan.weight_slot_bytes()) {
      return unit_fail(absl::StrCat("bytes ", unit.bytes(), " exceed weight_slot_bytes ",
                                    plan.weight_slot_bytes()));
    }
    if (unit.slot() < 0 || unit.slot() >= plan.num_weight_slots()) {
      return unit_fail(absl::StrCat("slot ", unit.slot(), " is outside num_weight_slots ",
                                    plan.num_weight_slots()));
    }
    const std::string file = unit.file() == nullptr ? "" : unit.file()->str();
    if (unit.residency() == Residency::Host) {
      if (!file.empty() || unit.file_offset() != 0) {
        return unit_fail(
            "a Host unit has no file or file_offset (it is packed from the checkpoint)");
      }
      continue;
    }
    if (!StaysInside(file)) {
      return unit_fail(
          absl::StrCat("file '", file, "' must be a relative path inside the plan directory"));
    }
    if (unit.file_offset() % kWeightUnitAlignment != 0 ||
        unit.file_offset() > (uint64_t{1} << 62)) {
      return unit_fail(absl::StrCat("file_offset ", unit.file_offset(), " is not ",
                                    kWeightUnitAlignment, "-byte aligned"));
    }
  }
  return absl::OkStatus();
}

// Streamed tensors: weights only, inside their unit, aligned, disjoint.
absl::Status CheckStreamedTensors(const plan::Plan& plan, absl::string_view label) {
  const auto* tensors = plan.tensors();
  const size_t units = plan.weight_units() == nullptr ? 0 : plan.weight_units()->size();
  // Per unit: (begin, end, tensor index) of its tensors.
  std::vector<std::vector<std::pair<std::pair<uint64_t, uint64_t>, size_t>>> ranges(units);
  for (size_t i = 0; i < tensors->size(); ++i) {
    const auto& tensor = *tensors->Get(i);
    auto fail = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ": tensor ", i, " '", tensor.name()->str(), "': ", why));
    };
    if (tensor.stream_unit() == -1) {
      if (tensor.slot_offset() != 0) return fail("slot_offset given but stream_unit is -1");
      continue;
    }
    if (tensor.kind() != TensorKind::Weight) return fail("only a weight can have a stream_unit");
    if (tensor.stream_unit() < 0 || static_cast<size_t>(tensor.stream_unit()) >= units) {
      return fail(absl::StrCat("stream_unit ", tensor.stream_unit(), " is not one of the plan's ",
                               units, " weight_units"));
    }
    const auto& unit = *plan.weight_units()->Get(tensor.stream_unit());
    const uint64_t begin = tensor.slot_offset();
    const uint64_t bytes = TensorRowBytes(tensor);  // a weight is static: all of it
    if (begin % kStreamedTensorAlignment != 0) {
      return fail(absl::StrCat("slot_offset ", begin, " is not ", kStreamedTensorAlignment,
                               "-byte aligned"));
    }
    if (begin > unit.bytes() || bytes > unit.bytes() - begin) {
      return fail(absl::StrCat("bytes [", begin, ", ", begin + bytes, ") end past unit '",
                               unit.name()->str(), "' (", unit.bytes(), " bytes)"));
    }
    ranges[tensor.stream_unit()].push_back({{begin, begin + bytes}, i});
  }
  for (size_t u = 0; u < units; ++u) {
    auto& list = ranges[u];
    if (list.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          label, ": weight_units[", u, "] ", UnitName(plan, u), ": no tensor streams with it"));
    }
    std::sort(list.begin(), list.end());
    for (size_t k = 1; k < list.size(); ++k) {
      if (list[k].first.first < list[k - 1].first.second) {
        return absl::InvalidArgumentError(absl::StrCat(
            label, ": tensors '", tensors->Get(list[k - 1].second)->name()->str(), "' and '",
            tensors->Get(list[k].second)->name()->str(), "' overlap in unit ", UnitName(plan, u),
            " (slot_offset ", list[k - 1].first.first, " and ", list[k].first.first, ")"));
      }
    }
  }
  return absl::OkStatus();
}

// Walks the program once, as every step runs it, from empty slots: a slot
// holds the unit of its latest PrefetchWeights, readable once that unit's
// AwaitWeights has run, until the next PrefetchWeights into the slot.
absl::Status CheckSlotDiscipline(const plan::Plan& plan, absl::string_view label) {
  const auto* tensors = plan.tensors();
  const auto* instructions = plan.instructions();
  const int32_t units = plan.weight_units() == nullptr ? 0 : plan.weight_units()->size();
  struct SlotState {
    int32_t unit = -1;     // latest prefetch into the slot
    bool awaited = false;  // that unit's AwaitWeights has run since
    size_t prefetched_at = 0;
  };
  std::vector<SlotState> slots(std::max(plan.num_weight_slots(), 0));
  for (size_t i = 0; i < instructions->size(); ++i) {
    const auto& inst = *instructions->Get(i);
    auto fail = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(
          label, ": instruction ", i, " (", plan::EnumNameKernel(inst.kernel_type()), "): ", why));
    };
    const bool prefetch = inst.kernel_type() == plan::Kernel::PrefetchWeights;
    if (prefetch || inst.kernel_type() == plan::Kernel::AwaitWeights) {
      const int32_t unit = prefetch ? inst.kernel_as_PrefetchWeights()->unit()
                                    : inst.kernel_as_AwaitWeights()->unit();
      if (unit < 0 || unit >= units) {
        return fail(
            absl::StrCat("unit ", unit, " is not one of the plan's ", units, " weight_units"));
      }
      SlotState& slot = slots[plan.weight_units()->Get(unit)->slot()];
      if (prefetch) {
        slot = SlotState{unit, false, i};
      } else if (slot.unit != unit) {
        return fail(absl::StrCat(
            "awaits unit ", UnitName(plan, unit), " but the latest PrefetchWeights into its slot ",
            plan.weight_units()->Get(unit)->slot(),
            slot.unit < 0 ? " is none" : absl::StrCat(" is of ", UnitName(plan, slot.unit))));
      } else {
        slot.awaited = true;
      }
      continue;
    }
    for (uint32_t id : *inst.operands()) {
      const auto& tensor = *tensors->Get(id);
      if (tensor.stream_unit() < 0) continue;
      const int32_t unit = tensor.stream_unit();
      const int32_t slot_index = plan.weight_units()->Get(unit)->slot();
      const SlotState& slot = slots[slot_index];
      const std::string what = absl::StrCat("reads '", tensor.name()->str(), "' of unit ",
                                            UnitName(plan, unit), " (slot ", slot_index, ")");
      if (slot.unit != unit) {
        return fail(absl::StrCat(
            what, slot.unit < 0 ? " before any PrefetchWeights of it"
                                : absl::StrCat(" while the slot holds ", UnitName(plan, slot.unit),
                                               " (PrefetchWeights at instruction ",
                                               slot.prefetched_at, ")")));
      }
      if (!slot.awaited) {
        return fail(absl::StrCat(what, " before its AwaitWeights (prefetched at instruction ",
                                 slot.prefetched_at, ")"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateWeightTiering(const plan::Plan& plan, absl::string_view label) {
  if (auto s = CheckUnits(plan, label); !s.ok()) return s;
  if (auto s = CheckStreamedTensors(plan, label); !s.ok()) return s;
  return CheckSlotDiscipline(plan, label);
}

}  // namespace bloom
