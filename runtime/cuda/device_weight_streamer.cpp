#include "runtime/cuda/device_weight_streamer.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/cuda_status.h"
#include "runtime/support/status_macros.h"

namespace bloom {
namespace {

constexpr size_t kSlotAlignment = 4096;

size_t AlignUp(size_t n) { return (n + kSlotAlignment - 1) / kSlotAlignment * kSlotAlignment; }

}  // namespace

absl::StatusOr<std::unique_ptr<DeviceWeightStreamer>> DeviceWeightStreamer::Create(
    const LoadedPlan& loaded) {
  const plan::Plan& plan = loaded.plan();
  std::unique_ptr<DeviceWeightStreamer> streamer(new DeviceWeightStreamer());
  const auto* units = plan.weight_units();
  const size_t n = units == nullptr ? 0 : units->size();
  streamer->slot_bytes_ = AlignUp(plan.weight_slot_bytes());
  size_t host_bytes = 0;
  bool any_disk = false;
  streamer->units_.resize(n);
  for (size_t u = 0; u < n; ++u) {
    const plan::WeightUnit* unit = units->Get(u);
    Unit& mine = streamer->units_[u];
    mine.bytes = unit->bytes();
    mine.slot = unit->slot();
    mine.disk = unit->residency() == plan::Residency::Disk;
    any_disk |= mine.disk;
    if (!mine.disk) {
      mine.host_offset = host_bytes;
      host_bytes += AlignUp(mine.bytes);
    }
  }
  const auto* tensors = plan.tensors();
  streamer->tensor_unit_.assign(tensors->size(), -1);
  streamer->tensor_offset_.assign(tensors->size(), 0);
  for (uint32_t i = 0; i < tensors->size(); ++i) {
    streamer->tensor_unit_[i] = tensors->Get(i)->stream_unit();
    streamer->tensor_offset_[i] = tensors->Get(i)->slot_offset();
  }
  if (n == 0) return streamer;
  BLOOM_ASSIGN_OR_RETURN(
      streamer->slots_,
      DeviceBuffer::Allocate(streamer->slot_bytes_ * plan.num_weight_slots(),
                             absl::StrCat(plan.num_weight_slots(), " weight slots of ",
                                          plan.weight_slot_bytes(), " bytes")));
  if (host_bytes > 0) {
    BLOOM_ASSIGN_OR_RETURN(
        streamer->host_,
        PinnedBuffer::Allocate(
            host_bytes, absl::StrCat("the host-memory weight units (", host_bytes, " bytes)")));
    std::memset(streamer->host_.data(), 0, host_bytes);
  }
  if (any_disk) {
    BLOOM_ASSIGN_OR_RETURN(streamer->disk_, DiskUnitReader::Open(loaded, /*direct_io=*/true));
    // Pinned memory is page-aligned, and slots are whole 4096-byte blocks,
    // as O_DIRECT reads need.
    BLOOM_ASSIGN_OR_RETURN(
        streamer->bounce_,
        PinnedBuffer::Allocate(streamer->slot_bytes_ * plan.num_weight_slots(),
                               "the disk units' bounce buffers (one slot each)"));
    for (size_t u = 0; u < n; ++u) {
      Unit& unit = streamer->units_[u];
      if (!unit.disk) continue;
      unit.read = {
          streamer.get(), static_cast<int32_t>(u),
          streamer->bounce_.data() + static_cast<size_t>(unit.slot) * streamer->slot_bytes_};
    }
  }
  BLOOM_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&streamer->copy_, cudaStreamNonBlocking),
                             "creating the weight copy stream");
  for (Unit& unit : streamer->units_) {
    for (cudaEvent_t* e : {&unit.released, &unit.ready}) {
      BLOOM_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(e, cudaEventDisableTiming),
                                 "cudaEventCreate");
    }
    for (cudaEvent_t* e : {&unit.copy_start, &unit.copy_end}) {
      BLOOM_CUDA_RETURN_IF_ERROR(cudaEventCreate(e), "cudaEventCreate");
    }
  }
  return streamer;
}

DeviceWeightStreamer::~DeviceWeightStreamer() {
  if (copy_ != nullptr) cudaStreamSynchronize(copy_);
  for (Unit& unit : units_) {
    for (cudaEvent_t e : {unit.released, unit.ready, unit.copy_start, unit.copy_end}) {
      if (e != nullptr) cudaEventDestroy(e);
    }
  }
  if (copy_ != nullptr) cudaStreamDestroy(copy_);
}

bool DeviceWeightStreamer::Streams(uint32_t index) const {
  return index < tensor_unit_.size() && tensor_unit_[index] >= 0;
}

void* DeviceWeightStreamer::DeviceAddress(uint32_t index) const {
  const Unit& unit = units_[tensor_unit_[index]];
  return slots_.data() + static_cast<size_t>(unit.slot) * slot_bytes_ + tensor_offset_[index];
}

std::vector<WeightDestination> DeviceWeightStreamer::HostDestinations() const {
  std::vector<WeightDestination> packed;
  for (uint32_t i = 0; i < tensor_unit_.size(); ++i) {
    if (!Streams(i) || units_[tensor_unit_[i]].disk) continue;
    packed.push_back({i, host_.data() + units_[tensor_unit_[i]].host_offset + tensor_offset_[i]});
  }
  return packed;
}

absl::Status DeviceWeightStreamer::Prefetch(int32_t index, cudaStream_t compute) {
  Unit& unit = units_.at(index);
  void* slot = slots_.data() + static_cast<size_t>(unit.slot) * slot_bytes_;
  BLOOM_CUDA_RETURN_IF_ERROR(cudaEventRecord(unit.released, compute), "PrefetchWeights");
  BLOOM_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(copy_, unit.released, 0), "PrefetchWeights");
  BLOOM_CUDA_RETURN_IF_ERROR(cudaEventRecord(unit.copy_start, copy_), "PrefetchWeights");
  const uint8_t* source = host_.data() + unit.host_offset;
  if (unit.disk) {
    BLOOM_CUDA_RETURN_IF_ERROR(cudaLaunchHostFunc(copy_, &ReadOnCopyStream, &unit.read),
                               "PrefetchWeights: queueing a disk read");
    source = unit.read.bounce;
  }
  BLOOM_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(slot, source, unit.bytes, cudaMemcpyHostToDevice, copy_),
      "PrefetchWeights: copying a weight unit to its slot");
  BLOOM_CUDA_RETURN_IF_ERROR(cudaEventRecord(unit.copy_end, copy_), "PrefetchWeights");
  BLOOM_CUDA_RETURN_IF_ERROR(cudaEventRecord(unit.ready, copy_), "PrefetchWeights");
  unit.prefetched = true;
  step_units_.push_back(index);
  return absl::OkStatus();
}

absl::Status DeviceWeightStreamer::Await(int32_t index, cudaStream_t compute) {
  Unit& unit = units_.at(index);
  BLOOM_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(compute, unit.ready, 0), "AwaitWeights");
  unit.prefetched = false;
  return absl::OkStatus();
}

absl::Status DeviceWeightStreamer::EndStep(cudaStream_t compute) {
  for (Unit& unit : units_) {
    if (!unit.prefetched) continue;
    BLOOM_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(compute, unit.ready, 0), "end of step");
    unit.prefetched = false;
  }
  last_step_units_ = std::move(step_units_);
  step_units_.clear();
  return absl::OkStatus();
}

void CUDART_CB DeviceWeightStreamer::ReadOnCopyStream(void* argument) {
  const DiskRead& read = *static_cast<const DiskRead*>(argument);
  DeviceWeightStreamer& self = *read.streamer;
  absl::Status status = self.disk_->Read(read.unit, read.bounce);
  if (!status.ok()) {
    std::lock_guard<std::mutex> lock(self.error_mutex_);
    if (self.error_.ok()) self.error_ = std::move(status);
  }
}

absl::Status DeviceWeightStreamer::TakeError() {
  std::lock_guard<std::mutex> lock(error_mutex_);
  absl::Status error = std::move(error_);
  error_ = absl::OkStatus();
  return error;
}

void DeviceWeightStreamer::CountStep(bool timed) {
  for (int32_t index : last_step_units_) {
    const Unit& unit = units_[index];
    totals_.bytes += static_cast<int64_t>(unit.bytes);
    ++totals_.units;
    if (!timed) continue;
    float ms = 0.0f;
    if (cudaEventElapsedTime(&ms, unit.copy_start, unit.copy_end) == cudaSuccess) {
      totals_.fill_seconds += ms / 1e3;
    } else {
      cudaGetLastError();  // untimed after all: count the bytes only
    }
  }
}

}  // namespace bloom
