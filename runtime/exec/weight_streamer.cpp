#include "runtime/exec/weight_streamer.h"

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "runtime/exec/plan_view.h"
#include "runtime/plan/weight_tiering_validator.h"
#include "runtime/support/dtype.h"
#include "runtime/support/status_macros.h"

namespace bloom {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

struct WeightStreamer::Unit {
  std::string name;
  plan::Residency residency;
  uint64_t bytes = 0;
  int32_t slot = 0;
  std::vector<uint8_t> host;  // Host units: the packed copy (padding zero)
};

WeightStreamer::WeightStreamer(const LoadedPlan& plan) : plan_(plan) {}

WeightStreamer::~WeightStreamer() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

absl::StatusOr<std::unique_ptr<WeightStreamer>> WeightStreamer::Create(const LoadedPlan& loaded,
                                                                       bool direct_io) {
  std::unique_ptr<WeightStreamer> streamer(new WeightStreamer(loaded));
  const plan::Plan& p = loaded.plan();
  const auto* tensors = p.tensors();
  streamer->tensor_unit_.assign(tensors->size(), -1);
  for (uint32_t i = 0; i < tensors->size(); ++i) {
    streamer->tensor_unit_[i] = tensors->Get(i)->stream_unit();
  }
  if (p.weight_units() == nullptr || p.weight_units()->size() == 0) return streamer;

  for (const auto* unit : *p.weight_units()) {
    Unit u;
    u.name = unit->name()->str();
    u.residency = unit->residency();
    u.bytes = unit->bytes();
    u.slot = unit->slot();
    if (u.residency == plan::Residency::Host) {
      u.host.assign(u.bytes, 0);
      streamer->host_bytes_ += static_cast<int64_t>(u.bytes);
    }
    streamer->units_.push_back(std::move(u));
  }
  BLOOM_ASSIGN_OR_RETURN(streamer->disk_, DiskUnitReader::Open(loaded, direct_io));

  // Slots are 4096-aligned and a whole number of 4096-byte blocks, as
  // O_DIRECT reads into them require.
  const uint64_t slot_bytes = (p.weight_slot_bytes() + kWeightUnitAlignment - 1) /
                              kWeightUnitAlignment * kWeightUnitAlignment;
  for (int32_t s = 0; s < p.num_weight_slots(); ++s) {
    void* memory = std::aligned_alloc(kWeightUnitAlignment, slot_bytes);
    if (memory == nullptr) {
      return absl::ResourceExhaustedError(absl::StrCat(
          loaded.label(), ": cannot allocate weight slot ", s, " (", slot_bytes, " bytes)"));
    }
    std::memset(memory, 0, slot_bytes);
    streamer->slots_.emplace_back(static_cast<uint8_t*>(memory), std::free);
    streamer->slot_bytes_ += static_cast<int64_t>(slot_bytes);
  }
  streamer->slot_fill_.resize(p.num_weight_slots());
  streamer->worker_ = std::thread([raw = streamer.get()] { raw->Worker(); });
  return streamer;
}

bool WeightStreamer::direct_reads() const { return disk_ == nullptr || disk_->direct_reads(); }

bool WeightStreamer::Streams(uint32_t index) const { return tensor_unit_[index] >= 0; }

bool WeightStreamer::FromHost(uint32_t index) const {
  return units_[tensor_unit_[index]].residency == plan::Residency::Host;
}

uint8_t* WeightStreamer::SlotAddress(uint32_t index) const {
  const Unit& unit = units_[tensor_unit_[index]];
  return slots_[unit.slot].get() + plan_.plan().tensors()->Get(index)->slot_offset();
}

absl::Status WeightStreamer::PackHostTensor(uint32_t index, absl::Span<const float> values) {
  const plan::Tensor* tensor = plan_.plan().tensors()->Get(index);
  Unit& unit = units_[tensor_unit_[index]];
  const DType dtype = ToDType(tensor->dtype());
  // Exhaustive: a new DType does not build here until it can be packed.
  switch (dtype) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
      ConvertFromFloat32(dtype, values.data(), unit.host.data() + tensor->slot_offset(),
                         values.size());
      return absl::OkStatus();
    case DType::kI32:
    case DType::kI8:
    case DType::kI4:
      break;
  }
  return absl::InternalError(
      absl::StrCat("weight '", tensor->name()->str(), "' of unit '", unit.name, "' is stored as ",
                   plan::EnumNameDType(tensor->dtype()), ", which cannot be packed from float"));
}

absl::Status WeightStreamer::PackHostTensorBytes(uint32_t index,
                                                 absl::Span<const uint8_t> bytes) {
  const plan::Tensor* tensor = plan_.plan().tensors()->Get(index);
  Unit& unit = units_[tensor_unit_[index]];
  if (static_cast<int64_t>(bytes.size()) != BytesOf(*tensor, tensor->shape()->Get(0)) ||
      tensor->slot_offset() + bytes.size() > unit.host.size()) {
    return absl::InternalError(absl::StrCat("weight '", tensor->name()->str(), "' of unit '",
                                            unit.name, "': ", bytes.size(),
                                            " bytes do not fit its place in the unit"));
  }
  std::memcpy(unit.host.data() + tensor->slot_offset(), bytes.data(), bytes.size());
  return absl::OkStatus();
}

absl::Status WeightStreamer::Prefetch(int32_t unit) {
  auto fill = std::make_shared<Fill>();
  fill->unit = unit;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    slot_fill_[units_[unit].slot] = fill;
    step_fills_.push_back(fill);
    queue_.push_back(fill);
  }
  changed_.notify_all();
  return absl::OkStatus();
}

void WeightStreamer::WaitFor(std::unique_lock<std::mutex>& lock,
                             const std::shared_ptr<Fill>& fill) {
  changed_.wait(lock, [&] { return fill->done; });
}

absl::Status WeightStreamer::Await(int32_t unit) {
  const auto start = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mutex_);
  const std::shared_ptr<Fill> fill = slot_fill_[units_[unit].slot];
  // The validator orders every await after a prefetch of its unit.
  if (fill == nullptr || fill->unit != unit) {
    return absl::InternalError(
        absl::StrCat("AwaitWeights of unit '", units_[unit].name, "' without its prefetch"));
  }
  WaitFor(lock, fill);
  step_.wait_seconds += SecondsSince(start);
  return fill->status;
}

void WeightStreamer::BeginStep() {
  std::lock_guard<std::mutex> lock(mutex_);
  step_ = WeightStreamStats{};
}

absl::Status WeightStreamer::EndStep() {
  std::unique_lock<std::mutex> lock(mutex_);
  absl::Status first;
  for (const auto& fill : step_fills_) {
    WaitFor(lock, fill);
    if (first.ok()) first = fill->status;
  }
  step_fills_.clear();
  last_step_ = step_;
  totals_.bytes += step_.bytes;
  totals_.units += step_.units;
  totals_.fill_seconds += step_.fill_seconds;
  totals_.wait_seconds += step_.wait_seconds;
  step_ = WeightStreamStats{};
  return first;
}

void WeightStreamer::Worker() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, with nothing left to fill
    const std::shared_ptr<Fill> fill = queue_.front();
    queue_.pop_front();
    lock.unlock();
    const auto start = std::chrono::steady_clock::now();
    absl::Status status = FillSlot(fill->unit);
    const double seconds = SecondsSince(start);
    lock.lock();
    fill->status = std::move(status);
    fill->done = true;
    if (fill->status.ok()) {
      step_.bytes += static_cast<int64_t>(units_[fill->unit].bytes);
      step_.units += 1;
    }
    step_.fill_seconds += seconds;
    changed_.notify_all();
  }
}

absl::Status WeightStreamer::FillSlot(int32_t index) {
  const Unit& unit = units_[index];
  uint8_t* dst = slots_[unit.slot].get();
  if (unit.residency == plan::Residency::Host) {
    std::memcpy(dst, unit.host.data(), unit.bytes);
    return absl::OkStatus();
  }
  return disk_->Read(index, dst);
}

}  // namespace bloom
