#include "compiler/TierPlacement.h"

#include <algorithm>
#include <numeric>

#include "compiler/DeviceFit.h"

namespace bloom {
namespace {

std::string Budget(int64_t bytes) {
  if (bytes < 0) return "unlimited";
  if (bytes == 0) return "unused";
  return FormatBytes(bytes);
}

double LinkOf(Tier tier, const LinkBandwidths& links) {
  return tier == Tier::kDisk ? std::min(links.host_to_device, links.disk_to_host)
                             : links.host_to_device;
}

bool Fits(int64_t used, int64_t budget) { return budget < 0 || used <= budget; }

// Puts the offloaded units in host memory or on disk. Units streamed more
// often per step go to the faster link first; then first fit in unit order.
// False when host and disk cannot hold them.
bool AssignTiers(const std::vector<TierUnit>& units, const TierBudgets& budgets, TierPlan& plan) {
  std::vector<size_t> order;
  for (size_t i = 0; i < units.size(); ++i) {
    if (plan.tiers[i] != Tier::kDevice) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return units[a].visits > units[b].visits; });
  int64_t offloaded = 0;
  for (size_t i : order) offloaded += units[i].bytes;
  const int64_t staging = plan.num_slots * plan.slot_bytes;
  plan.host_weights = plan.disk_weights = plan.host_staging = 0;
  if (budgets.forced != Tier::kDisk && budgets.host != 0 && Fits(offloaded, budgets.host)) {
    for (size_t i : order) plan.tiers[i] = Tier::kHost;
    plan.host_weights = offloaded;
    return true;
  }
  if (budgets.forced == Tier::kHost || budgets.disk == 0) return false;
  // Some unit goes to disk, so the host also holds the staging buffers.
  if (!Fits(staging, budgets.host)) return false;
  const int64_t host_room = budgets.host < 0 ? -1 : budgets.host - staging;
  for (size_t i : order) {
    bool host = budgets.forced != Tier::kDisk && host_room != 0 &&
                Fits(plan.host_weights + units[i].bytes, host_room);
    plan.tiers[i] = host ? Tier::kHost : Tier::kDisk;
    (host ? plan.host_weights : plan.disk_weights) += units[i].bytes;
  }
  plan.host_staging = staging;
  return Fits(plan.disk_weights, budgets.disk);
}

void Cost(const std::vector<TierUnit>& units, const LinkBandwidths& links, TierPlan& plan) {
  plan.device_weights = plan.streamed_per_step = 0;
  plan.stream_seconds = 0;
  for (size_t i = 0; i < units.size(); ++i) {
    if (plan.tiers[i] == Tier::kDevice) {
      plan.device_weights += units[i].bytes;
      continue;
    }
    int64_t streamed = units[i].visits * units[i].bytes;
    plan.streamed_per_step += streamed;
    plan.stream_seconds += static_cast<double>(streamed) / LinkOf(plan.tiers[i], links);
  }
  plan.resident_seconds = static_cast<double>(plan.device_weights) / links.device;
}

// The units to offload when slots hold `slot_bytes`: the cheapest bytes to
// stream first (fewest visits per step; among equals, larger units, so
// fewer copies), until the resident rest fits `room`. Equal units (the
// layers) are taken evenly spread over the step, so that each copy has
// resident layers' compute to hide behind. False if even all is too little.
bool ChooseOffloaded(const std::vector<TierUnit>& units, int64_t slot_bytes, int64_t room,
                     std::vector<Tier>& tiers) {
  tiers.assign(units.size(), Tier::kDevice);
  int64_t deficit = -room;
  for (const TierUnit& unit : units) deficit += unit.bytes;
  std::vector<size_t> order;
  for (size_t i = 0; i < units.size(); ++i) {
    if (units[i].bytes <= slot_bytes) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (units[a].visits != units[b].visits) return units[a].visits < units[b].visits;
    return units[a].bytes > units[b].bytes;
  });
  for (size_t begin = 0; begin < order.size() && deficit > 0;) {
    size_t end = begin;
    while (end < order.size() && units[order[end]].visits == units[order[begin]].visits &&
           units[order[end]].bytes == units[order[begin]].bytes) {
      ++end;
    }
    const int64_t bytes = units[order[begin]].bytes;
    const int64_t n = static_cast<int64_t>(end - begin);
    const int64_t k = std::min(n, (deficit + bytes - 1) / bytes);
    // Member i of n is taken when floor((i + 1)k / n) steps: k of n, spread.
    for (int64_t i = 0; i < n; ++i) {
      if ((i + 1) * k / n > i * k / n) tiers[order[begin + i]] = Tier::kHost;
    }
    deficit -= k * bytes;
    begin = end;
  }
  return deficit <= 0;
}

std::string Misfit(const std::vector<TierUnit>& units, const TierBudgets& budgets,
                   int64_t kv_bytes_per_sequence, int64_t max_sequences) {
  int64_t total = 0, largest = 0;
  for (const TierUnit& unit : units) {
    total += unit.bytes;
    largest = std::max(largest, unit.bytes);
  }
  const int64_t slots = budgets.num_slots;
  std::string line = "plan does not fit even with weights offloaded: it needs " +
                     FormatBytes(total + budgets.device_fixed) + " (weights " + FormatBytes(total) +
                     ", KV cache + activations + workspace " + FormatBytes(budgets.device_fixed) +
                     "); --device-memory " + Budget(budgets.device) + ", --host-memory " +
                     Budget(budgets.host) + ", disk " + Budget(budgets.disk);
  // The least the weights take on the device: for a slot size s, the slots
  // plus every unit too large to stream through them; the best s.
  int64_t weights_floor = -1, floor_slot = 0;
  for (const TierUnit& candidate : units) {
    if (budgets.forced && candidate.bytes < largest) continue;
    int64_t bytes = slots * candidate.bytes;
    for (const TierUnit& unit : units) {
      if (unit.bytes > candidate.bytes) bytes += unit.bytes;
    }
    if (weights_floor < 0 || bytes < weights_floor) {
      weights_floor = bytes;
      floor_slot = candidate.bytes;
    }
  }
  const int64_t device_floor = budgets.device_fixed + weights_floor;
  if (budgets.device >= 0 && device_floor > budgets.device) {
    line += "; the device cannot hold the KV cache, activations and workspace plus at least " +
            FormatBytes(weights_floor) + " of weights (" + std::to_string(slots) + " slots of " +
            FormatBytes(floor_slot) + " and the units larger than a slot)";
    const int64_t kv = kv_bytes_per_sequence * max_sequences;
    if (kv_bytes_per_sequence > 0) {
      int64_t room = budgets.device - (device_floor - kv);
      int64_t sequences = room / kv_bytes_per_sequence;
      if (sequences >= 1 && sequences < max_sequences) {
        return line + "; would fit: --max-sequences=" + std::to_string(sequences);
      }
    }
    return line + "; nothing smaller fits";
  }
  // The device side works for some slot size: the fewest offloaded bytes.
  int64_t best = -1;
  std::vector<Tier> tiers;
  for (const TierUnit& unit : units) {
    int64_t room =
        budgets.device < 0 ? total : budgets.device - budgets.device_fixed - slots * unit.bytes;
    if (room < 0 || !ChooseOffloaded(units, unit.bytes, room, tiers)) continue;
    int64_t off = 0;
    for (size_t i = 0; i < units.size(); ++i) {
      if (tiers[i] != Tier::kDevice) off += units[i].bytes;
    }
    if (best < 0 || off < best) best = off;
  }
  if (budgets.forced) best = total;
  if (best < 0) return line + "; nothing smaller fits";
  line += "; " + FormatBytes(best) + " (" + std::to_string(best) +
          " bytes) of weights must leave the device";
  if (budgets.forced != Tier::kDisk) {
    line += "; would fit: --host-memory=" + std::to_string(best);
  } else {
    line += "; would fit: --disk-budget=" + std::to_string(best);
  }
  if (budgets.disk == 0 && budgets.forced != Tier::kHost) {
    line += ", or --disk-dir=PATH (disk tier)";
  }
  return line;
}

}  // namespace

const char* TierName(Tier tier) {
  switch (tier) {
    case Tier::kDevice:
      return "device";
    case Tier::kHost:
      return "host";
    case Tier::kDisk:
      return "disk";
  }
  return "device";
}

std::variant<TierPlan, std::string> PlaceWeightUnits(const std::vector<TierUnit>& units,
                                                     const TierBudgets& budgets,
                                                     const LinkBandwidths& links,
                                                     int64_t kv_bytes_per_sequence,
                                                     int64_t max_sequences) {
  int64_t total = 0, largest = 0;
  for (const TierUnit& unit : units) {
    total += unit.bytes;
    largest = std::max(largest, unit.bytes);
  }
  TierPlan resident;
  resident.tiers.assign(units.size(), Tier::kDevice);
  if (!budgets.forced && Fits(budgets.device_fixed + total, budgets.device)) {
    Cost(units, links, resident);
    return resident;
  }
  if (units.empty()) return Misfit(units, budgets, kv_bytes_per_sequence, max_sequences);
  if (budgets.forced) {
    TierPlan plan;
    plan.tiers.assign(units.size(), *budgets.forced);
    plan.num_slots = budgets.num_slots;
    plan.slot_bytes = largest;
    if (!Fits(budgets.device_fixed + plan.num_slots * largest, budgets.device) ||
        !AssignTiers(units, budgets, plan)) {
      return Misfit(units, budgets, kv_bytes_per_sequence, max_sequences);
    }
    Cost(units, links, plan);
    return plan;
  }
  // Each distinct unit size is a candidate slot size: larger slots let
  // bigger units stream but take more of the device. Cheapest stream wins;
  // ties go to the smaller slot (sizes are tried in increasing order).
  std::vector<int64_t> sizes;
  for (const TierUnit& unit : units) sizes.push_back(unit.bytes);
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  std::optional<TierPlan> best;
  for (int64_t slot_bytes : sizes) {
    int64_t room = budgets.device - budgets.device_fixed - budgets.num_slots * slot_bytes;
    TierPlan plan;
    if (room < 0 || !ChooseOffloaded(units, slot_bytes, room, plan.tiers)) continue;
    plan.num_slots = budgets.num_slots;
    // The slot holds the largest unit actually streamed.
    plan.slot_bytes = 0;
    for (size_t i = 0; i < units.size(); ++i) {
      if (plan.tiers[i] != Tier::kDevice)
        plan.slot_bytes = std::max(plan.slot_bytes, units[i].bytes);
    }
    if (!AssignTiers(units, budgets, plan)) continue;
    Cost(units, links, plan);
    if (!best || plan.stream_seconds < best->stream_seconds) best = std::move(plan);
  }
  if (!best) return Misfit(units, budgets, kv_bytes_per_sequence, max_sequences);
  return *std::move(best);
}

}  // namespace bloom
