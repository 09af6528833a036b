#include "runtime/exec/disk_unit_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"

namespace bloom {
namespace {

// Reads of a disk unit are split into pieces this large: big enough that a
// read's fixed cost is small against its transfer, small enough that a
// failure points near its place. A multiple of the O_DIRECT alignment.
constexpr uint64_t kReadChunkBytes = uint64_t{8} << 20;

}  // namespace

DiskUnitReader::File::~File() {
  if (fd >= 0) close(fd);
}

DiskUnitReader::~DiskUnitReader() = default;

absl::StatusOr<std::unique_ptr<DiskUnitReader>> DiskUnitReader::Open(const LoadedPlan& loaded,
                                                                     bool direct_io) {
  std::unique_ptr<DiskUnitReader> reader(new DiskUnitReader());
  const auto* units = loaded.plan().weight_units();
  const size_t n = units == nullptr ? 0 : units->size();
  reader->units_.resize(n);
  std::map<std::string, File*> by_name;
  for (size_t u = 0; u < n; ++u) {
    const plan::WeightUnit* source = units->Get(u);
    Unit& unit = reader->units_[u];
    unit.name = source->name()->str();
    unit.bytes = source->bytes();
    unit.file_offset = source->file_offset();
    if (source->residency() != plan::Residency::Disk) continue;
    const std::string name = source->file()->str();
    File*& file = by_name[name];
    if (file == nullptr) {
      auto opened = std::make_unique<File>();
      opened->path = loaded.plan_dir().empty() ? name : absl::StrCat(loaded.plan_dir(), "/", name);
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
      reader->files_.push_back(std::move(opened));
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
  return reader;
}

bool DiskUnitReader::direct_reads() const {
  for (const auto& file : files_) {
    if (!file->direct) return false;
  }
  return true;
}

absl::Status DiskUnitReader::Read(int32_t index, uint8_t* dst) {
  if (index < 0 || static_cast<size_t>(index) >= units_.size() || units_[index].file == nullptr) {
    return absl::InternalError(absl::StrCat("weight unit ", index, " is not a disk unit"));
  }
  const Unit& unit = units_[index];
  File& file = *unit.file;
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
