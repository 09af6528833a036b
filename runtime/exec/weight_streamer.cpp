#include "runtime/exec/weight_streamer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "runtime/plan/weight_tiering_validator.h"
#include "runtime/support/dtype.h"
#include "runtime/support/status_macros.h"

namespace bloom {
namespace {

// Reads of a disk unit are split into pieces this large: big enough that a
// read's fixed cost is small against its transfer, small enough that a
// failure points near its place. A multiple of the O_DIRECT alignment.
constexpr uint64_t kReadChunkBytes = uint64_t{8} << 20;

DType RuntimeDType(plan::DType dtype) {
  switch (dtype) {
    case plan::DType::F16:
      return DType::kF16;
    case plan::DType::BF16:
      return DType::kBF16;
    default:
      return DType::kF32;  // weights are F32, F16 or BF16 (validated)
  }
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

struct WeightStreamer::DiskFile {
  std::string path;
  int fd = -1;
  // Opened with O_DIRECT: reads bypass the page cache, so a disk unit is in
  // memory only in its slot.
  // Atomic: the reader thread may fall back while direct_reads() looks.
  std::atomic<bool> direct{false};
  ~DiskFile() {
    if (fd >= 0) close(fd);
  }
};

struct WeightStreamer::Unit {
  std::string name;
  plan::Residency residency;
  uint64_t bytes = 0;
  int32_t slot = 0;
  uint64_t file_offset = 0;
  DiskFile* file = nullptr;   // Disk units
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
    u.file_offset = unit->file_offset();
    if (u.residency == plan::Residency::Host) {
      u.host.assign(u.bytes, 0);
      streamer->host_bytes_ += static_cast<int64_t>(u.bytes);
    }
    streamer->units_.push_back(std::move(u));
  }
  BLOOM_RETURN_IF_ERROR(streamer->OpenDiskFiles(direct_io));

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

absl::Status WeightStreamer::OpenDiskFiles(bool direct_io) {
  std::map<std::string, DiskFile*> by_name;
  for (size_t u = 0; u < units_.size(); ++u) {
    Unit& unit = units_[u];
    if (unit.residency != plan::Residency::Disk) continue;
    const std::string name = plan_.plan().weight_units()->Get(u)->file()->str();
    DiskFile*& file = by_name[name];
    if (file == nullptr) {
      auto opened = std::make_unique<DiskFile>();
      opened->path = plan_.plan_dir().empty() ? name : absl::StrCat(plan_.plan_dir(), "/", name);
      // O_DIRECT is refused with EINVAL by filesystems that cannot do it
      // (tmpfs, some network and FUSE filesystems); there the file is read
      // through the page cache instead, and each read is followed by a
      // hint to drop the pages it brought in (ReadDisk).
      if (direct_io) {
        opened->fd = open(opened->path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
        opened->direct = opened->fd >= 0;
      }
      if (!direct_io || (opened->fd < 0 && errno == EINVAL)) {
        opened->fd = open(opened->path.c_str(), O_RDONLY | O_CLOEXEC);
      }
      if (opened->fd < 0) {
        const int error = errno;
        const std::string why =
            absl::StrCat(opened->path, ": cannot open the weight file of unit '", unit.name, "' (",
                         std::strerror(error), ")");
        return error == ENOENT ? absl::NotFoundError(why) : absl::PermissionDeniedError(why);
      }
      struct stat info {};
      if (fstat(opened->fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        return absl::FailedPreconditionError(absl::StrCat(
            opened->path, ": the weight file of unit '", unit.name, "' is not a regular file"));
      }
      file = opened.get();
      files_.push_back(std::move(opened));
    }
    struct stat info {};
    fstat(file->fd, &info);
    const uint64_t size = static_cast<uint64_t>(info.st_size);
    if (size < unit.file_offset || size - unit.file_offset < unit.bytes) {
      return absl::DataLossError(
          absl::StrCat(file->path, ": holds ", size, " bytes but unit '", unit.name,
                       "' needs bytes [", unit.file_offset, ", ", unit.file_offset + unit.bytes,
                       "); the plan directory is incomplete (copy it again or recompile)"));
    }
    unit.file = file;
  }
  return absl::OkStatus();
}

bool WeightStreamer::direct_reads() const {
  for (const auto& file : files_) {
    if (!file->direct) return false;
  }
  return true;
}

bool WeightStreamer::Streams(uint32_t index) const { return tensor_unit_[index] >= 0; }

bool WeightStreamer::FromHost(uint32_t index) const {
  return units_[tensor_unit_[index]].residency == plan::Residency::Host;
}

uint8_t* WeightStreamer::SlotAddress(uint32_t index) const {
  const Unit& unit = units_[tensor_unit_[index]];
  return slots_[unit.slot].get() + plan_.plan().tensors()->Get(index)->slot_offset();
}

void WeightStreamer::PackHostTensor(uint32_t index, absl::Span<const float> values) {
  const plan::Tensor* tensor = plan_.plan().tensors()->Get(index);
  Unit& unit = units_[tensor_unit_[index]];
  ConvertFromFloat32(RuntimeDType(tensor->dtype()), values.data(),
                     unit.host.data() + tensor->slot_offset(), values.size());
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
  return ReadDisk(unit, dst);
}

absl::Status WeightStreamer::ReadDisk(const Unit& unit, uint8_t* dst) {
  DiskFile& file = *unit.file;
  uint64_t done = 0;
  while (done < unit.bytes) {
    const uint64_t want = std::min(kReadChunkBytes, unit.bytes - done);
    const ssize_t n = pread(file.fd, dst + done, want, static_cast<off_t>(unit.file_offset + done));
    if (n < 0) {
      const int error = errno;
      if (error == EINTR) continue;
      // Some filesystems accept O_DIRECT at open and refuse the reads; the
      // file is then reopened for buffered reads (at the unaligned tail of
      // a short file, too, which then reports itself as short below).
      if (error == EINVAL && file.direct) {
        const int fd = open(file.path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
          close(file.fd);
          file.fd = fd;
          file.direct = false;
          continue;
        }
      }
      return absl::DataLossError(absl::StrCat(file.path, ": reading unit '", unit.name,
                                              "' at byte ", unit.file_offset + done, " failed (",
                                              std::strerror(error), ")"));
    }
    if (n == 0) {
      return absl::DataLossError(absl::StrCat(file.path, ": ends at byte ", unit.file_offset + done,
                                              ", inside unit '", unit.name, "' (bytes [",
                                              unit.file_offset, ", ", unit.file_offset + unit.bytes,
                                              ")); the file was truncated or replaced"));
    }
    done += static_cast<uint64_t>(n);
  }
  // Buffered reads leave the unit in the page cache; the disk tier exists
  // because memory is short, so those pages are given back at once.
  if (!file.direct) {
    posix_fadvise(file.fd, static_cast<off_t>(unit.file_offset), static_cast<off_t>(unit.bytes),
                  POSIX_FADV_DONTNEED);
  }
  return absl::OkStatus();
}

}  // namespace bloom
