// Memory tiering on the CUDA backend: the plan's streamed weights
// (WeightUnit, PrefetchWeights/AwaitWeights; docs/memory-tiering.md) live in
// pinned host memory, packed per unit at load, and are copied into a ring of
// device weight slots on a copy stream while the compute stream runs the
// layers before them.
//
// A unit always streams into the same slot (WeightUnit.slot), so every
// streamed tensor has one fixed device address (its slot + slot_offset) and
// a decode step with streaming is still captured into a CUDA graph: the
// copies and the cross-stream waits are captured with the kernels.
//
// Ordering, with two events per unit:
//   PrefetchWeights(u): `released[u]` is recorded on the compute stream (the
//     compiler put the prefetch after the last read of the slot's previous
//     unit), the copy stream waits for it, copies u's packed bytes into its
//     slot, and records `ready[u]`;
//   AwaitWeights(u): the compute stream waits for `ready[u]`.
// At the end of a step the compute stream also waits for every prefetch the
// step did not await, so no copy outlives its step (and a graph capture is
// joined).
//
// Disk-resident units are read (runtime/exec/disk_unit_reader.h: large
// pread()s, O_DIRECT where the filesystem allows) into a pinned bounce
// buffer of their slot by a host function on the copy stream, then copied
// into the slot: the read, too, is part of the stream's order (and of a
// captured graph), so it overlaps the compute of the layers before the
// unit. A failed read cannot stop the stream; it is recorded and the step
// returns it (TakeError) after its synchronisation.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/cuda/weight_upload.h"
#include "runtime/exec/disk_unit_reader.h"
#include "runtime/exec/executor.h"
#include "runtime/plan/plan_loader.h"

namespace bloom {

class DeviceWeightStreamer {
 public:
  // Allocates the slots (device) and the packed host units (pinned); the
  // weights are packed by LoadWeights into HostDestinations().
  static absl::StatusOr<std::unique_ptr<DeviceWeightStreamer>> Create(const LoadedPlan& plan);
  ~DeviceWeightStreamer();

  // Whether plan tensor `index` is streamed, and its fixed device address.
  bool Streams(uint32_t index) const;
  void* DeviceAddress(uint32_t index) const;

  // Where each tensor of a host unit goes in its unit's packed host copy
  // (runtime/cuda/weight_upload.h's LoadWeights fills them, in the storage
  // dtype; the padding stays zero). Disk units are read per use instead.
  std::vector<WeightDestination> HostDestinations() const;

  // The instructions, enqueued on `compute` (never synchronising, so they
  // can be captured).
  absl::Status Prefetch(int32_t unit, cudaStream_t compute);
  absl::Status Await(int32_t unit, cudaStream_t compute);
  absl::Status EndStep(cudaStream_t compute);
  // After the step has completed (the compute stream synchronised): adds
  // the step's copies to the totals, and with `timed` (a step enqueued
  // eagerly, not a graph replay, whose copies are not timed) their copy time
  // from the timing events around each copy.
  void CountStep(bool timed);
  // The first disk read that failed since the last call (OK if none).
  absl::Status TakeError();

  int64_t device_bytes() const { return static_cast<int64_t>(slots_.size()); }
  // Pinned host memory: the packed host units and the disk units' bounce
  // buffers.
  int64_t host_bytes() const { return static_cast<int64_t>(host_.size() + bounce_.size()); }
  WeightStreamStats totals() const { return totals_; }

 private:
  // What a disk unit's host function needs (it may not call CUDA).
  struct DiskRead {
    DeviceWeightStreamer* streamer = nullptr;
    int32_t unit = 0;
    uint8_t* bounce = nullptr;
  };
  static void CUDART_CB ReadOnCopyStream(void* read);

  struct Unit {
    bool disk = false;
    DiskRead read;           // disk units
    size_t host_offset = 0;  // in host_ (host units)
    size_t bytes = 0;
    int32_t slot = 0;
    cudaEvent_t released = nullptr, ready = nullptr;       // no timing
    cudaEvent_t copy_start = nullptr, copy_end = nullptr;  // timing
    bool prefetched = false;                               // in the step being enqueued
  };
  DeviceWeightStreamer() = default;

  std::vector<Unit> units_;
  std::vector<int32_t> tensor_unit_;     // per plan tensor: its unit, or -1
  std::vector<uint64_t> tensor_offset_;  // per plan tensor: its slot offset
  size_t slot_bytes_ = 0;
  DeviceBuffer slots_;
  PinnedBuffer host_;
  PinnedBuffer bounce_;  // one slot's bytes per slot, for disk units
  std::unique_ptr<DiskUnitReader> disk_;
  std::mutex error_mutex_;
  absl::Status error_;  // a failed disk read, until TakeError
  cudaStream_t copy_ = nullptr;
  std::vector<int32_t> step_units_;       // prefetched in the step being enqueued
  std::vector<int32_t> last_step_units_;  // of the last step enqueued
  WeightStreamStats totals_;
};

}  // namespace bloom
