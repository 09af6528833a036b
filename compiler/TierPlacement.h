// The placement problem of memory tiering (DESIGN.md decision 5), apart
// from the IR: given weight units (their packed bytes and how often a step
// streams them), device / host / disk budgets and link bandwidths, choose
// which units stay on the device and where the others live, by the cost of
// streaming them. Plain C++ so the cost model can be read and tested on its
// own; --bloom-tier-memory (TierMemory.cpp) maps the IR onto it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace bloom {

enum class Tier { kDevice, kHost, kDisk };

const char* TierName(Tier tier);

// One weight unit: a transformer layer "h.N", the embedding, the head.
struct TierUnit {
  std::string name;
  int64_t bytes = 0;   // packed size, a multiple of 4096
  int64_t visits = 1;  // separate runs of reads per step (the tied table: 2)
};

// Bytes each tier may hold. -1: no limit; 0 (host, disk): tier unused.
struct TierBudgets {
  int64_t device = -1;
  int64_t host = -1;
  int64_t disk = 0;
  int64_t device_fixed = 0;    // KV cache + arena + workspace, on the device first
  int64_t num_slots = 2;       // ring of device slots for streamed units
  std::optional<Tier> forced;  // every unit off the device, to this tier
};

// Bytes per second of each link. Disk units travel disk → pinned host
// staging → device, pipelined in chunks, so they stream at the slower of
// the two links.
struct LinkBandwidths {
  double device = 3.0e12;          // device memory reads (H100 measured copy)
  double host_to_device = 25.0e9;  // pinned host → device (PCIe)
  double disk_to_host = 3.0e9;     // NVMe → pinned host (O_DIRECT reads)
};

struct TierPlan {
  std::vector<Tier> tiers;  // per unit, in the units' order
  int64_t num_slots = 0;    // 0 when every unit is on the device
  int64_t slot_bytes = 0;   // the largest offloaded unit
  int64_t device_weights = 0, host_weights = 0, disk_weights = 0;
  // Pinned host bounce buffers for disk reads: one per slot, counted
  // against the host budget whenever a unit is on disk.
  int64_t host_staging = 0;
  int64_t streamed_per_step = 0;  // visits × bytes over offloaded units
  double resident_seconds = 0;    // device-resident weight bytes / device bw
  double stream_seconds = 0;      // Σ visits × bytes / link bw, per unit's tier
};

// Where every unit goes, or a one-line error with the numbers (needed,
// available per tier, what would fit). `kv_bytes_per_sequence` lets the
// error suggest a smaller --max-sequences.
std::variant<TierPlan, std::string> PlaceWeightUnits(const std::vector<TierUnit>& units,
                                                     const TierBudgets& budgets,
                                                     const LinkBandwidths& links,
                                                     int64_t kv_bytes_per_sequence,
                                                     int64_t max_sequences);

}  // namespace bloom
