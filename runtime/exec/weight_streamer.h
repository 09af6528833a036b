// The CPU backend's weight streaming (memory tiering, DESIGN.md decision 5;
// docs/memory-tiering.md). A plan's streamed WeightUnits are not kept as
// resident tensors: the streamer owns Plan.num_weight_slots slot buffers of
// Plan.weight_slot_bytes, and each unit's bytes (in the plan's storage
// dtypes, each tensor at its slot_offset) are copied into its slot on
// PrefetchWeights:
//   - a Host unit from a packed host copy, built once at load time from the
//     checkpoint tensors it names (PackHostTensor) and counted as host bytes;
//   - a Disk unit from its file in the plan directory, with large reads at
//     the unit's 4096-aligned offset (O_DIRECT where the filesystem allows),
//     never kept in memory between uses beyond its slot.
//
// Reads run on one background thread, in the order the plan prefetches
// them; AwaitWeights waits for (joins) the unit's fill and returns its
// error, if any. The plan's slot discipline (checked by the validator: no
// read of a slot after the next PrefetchWeights into it) means a fill never
// races a kernel reading the slot, since kernels run synchronously on the
// step's thread before the next prefetch is issued.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/exec/disk_unit_reader.h"
#include "runtime/exec/executor.h"
#include "runtime/plan/plan_loader.h"

namespace bloom {

class WeightStreamer {
 public:
  // Allocates the slots and the host units' packed copies, and opens every
  // disk unit's file (relative to `plan.plan_dir()`), checking that it is a
  // regular file long enough for its units: a missing, unreadable or short
  // file is an error naming it. A plan without units gets an idle streamer.
  // `direct_io` false never tries O_DIRECT (ExecutorOptions::direct_io).
  static absl::StatusOr<std::unique_ptr<WeightStreamer>> Create(const LoadedPlan& plan,
                                                                bool direct_io = true);
  ~WeightStreamer();
  WeightStreamer(const WeightStreamer&) = delete;
  WeightStreamer& operator=(const WeightStreamer&) = delete;

  // Whether tensor `index` streams (its stream_unit is not -1).
  bool Streams(uint32_t index) const;
  // Where tensor `index` lives while its unit is in its slot, in its storage
  // dtype (plan::Tensor.dtype): the slot's buffer at slot_offset. Fixed for
  // the streamer's lifetime.
  uint8_t* SlotAddress(uint32_t index) const;
  // Whether tensor `index` belongs to a Host unit (its bytes come from the
  // checkpoint at load time) rather than a Disk unit.
  bool FromHost(uint32_t index) const;
  // Stores a Host unit's tensor `index` into the unit's packed copy,
  // converting `values` (exactly the values of the storage dtype, as the
  // executor prepares resident weights) to the storage dtype. A storage
  // dtype that is not floating (I32, or one the CPU cannot write yet) is an
  // error.
  absl::Status PackHostTensor(uint32_t index, absl::Span<const float> values);
  // The same for a tensor whose bytes are already in its storage dtype
  // (quantized values and zero points); their count must be its size.
  absl::Status PackHostTensorBytes(uint32_t index, absl::Span<const uint8_t> bytes);

  // The plan's instructions. Prefetch queues the fill of `unit`'s slot;
  // Await waits for it and returns its status (an error names the file).
  absl::Status Prefetch(int32_t unit);
  absl::Status Await(int32_t unit);
  // Called at the start and end of a step: the end waits for fills the step
  // started but never awaited (so nothing writes a slot between steps) and
  // returns the first error among them; both keep the step's counters.
  void BeginStep();
  absl::Status EndStep();

  // Counters of the last completed step and of the streamer's life.
  const WeightStreamStats& last_step() const { return last_step_; }
  const WeightStreamStats& totals() const { return totals_; }
  // Bytes of memory held: the slots, and the Host units' packed copies.
  int64_t slot_bytes() const { return slot_bytes_; }
  int64_t host_bytes() const { return host_bytes_; }
  // Whether every disk file is read with O_DIRECT (false once any has fallen
  // back to buffered reads; true when there are none).
  bool direct_reads() const;

 private:
  struct Unit;
  // A fill queued for the background thread. `done` is set under mutex_.
  struct Fill {
    int32_t unit = -1;
    bool done = false;
    absl::Status status;
  };

  explicit WeightStreamer(const LoadedPlan& plan);
  // Runs on the background thread.
  void Worker();
  absl::Status FillSlot(int32_t unit);
  // Waits for `fill` (mutex_ held through `lock`).
  void WaitFor(std::unique_lock<std::mutex>& lock, const std::shared_ptr<Fill>& fill);

  const LoadedPlan& plan_;
  std::vector<Unit> units_;
  std::unique_ptr<DiskUnitReader> disk_;
  // Per tensor: its unit, or -1.
  std::vector<int32_t> tensor_unit_;
  std::vector<std::unique_ptr<uint8_t, void (*)(void*)>> slots_;
  int64_t slot_bytes_ = 0, host_bytes_ = 0;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::shared_ptr<Fill>> queue_;
  // Per slot: the latest fill queued into it.
  std::vector<std::shared_ptr<Fill>> slot_fill_;
  // Fills of this step not yet awaited or collected by EndStep.
  std::vector<std::shared_ptr<Fill>> step_fills_;
  bool stopping_ = false;
  WeightStreamStats step_;  // the running step's counters (under mutex_)
  WeightStreamStats last_step_, totals_;
  std::thread worker_;
};

}  // namespace bloom
