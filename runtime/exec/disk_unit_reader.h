// The disk tier's reads (memory tiering, docs/memory-tiering.md), shared by
// the CPU backend's WeightStreamer and the CUDA backend's
// DeviceWeightStreamer: every Disk WeightUnit of a plan lives packed in a
// file of the plan directory at a 4096-aligned offset; this opens those
// files once, checks them, and reads a unit with large pread()s into a
// caller's 4096-aligned buffer.
//
// O_DIRECT where the filesystem allows it, so a disk unit is in memory only
// where the caller puts it. Filesystems that refuse O_DIRECT with EINVAL (at
// open, or at the first read: tmpfs, some network and FUSE filesystems) are
// read through the page cache instead, each read followed by
// posix_fadvise(DONTNEED) so the page cache does not keep the disk tier
// either.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/plan/plan_loader.h"

namespace bloom {

class DiskUnitReader {
 public:
  // Opens the file of every Disk unit of `plan` (relative to its
  // plan_dir()): a missing file (NotFound), one that cannot be opened
  // (PermissionDenied), one that is not a regular file, or one too short for
  // a unit's bytes (DataLoss) is one error naming the file and the unit.
  // `direct_io` false never tries O_DIRECT.
  static absl::StatusOr<std::unique_ptr<DiskUnitReader>> Open(const LoadedPlan& plan,
                                                              bool direct_io);
  ~DiskUnitReader();

  // Reads Disk unit `index` into `dst` (4096-aligned, room for the unit's
  // bytes rounded up to 4096). Thread-compatible: one reader thread at a
  // time. A file cut after Open is a DataLoss error naming the byte where it
  // ends.
  absl::Status Read(int32_t index, uint8_t* dst);

  // Whether every file is read with O_DIRECT (true when there are none).
  bool direct_reads() const;

 private:
  struct File {
    std::string path;
    int fd = -1;
    // Atomic: a reader thread may fall back while direct_reads() looks.
    std::atomic<bool> direct{false};
    ~File();
  };
  struct Unit {
    std::string name;
    uint64_t bytes = 0;
    uint64_t file_offset = 0;
    File* file = nullptr;  // null: not a Disk unit
  };
  DiskUnitReader() = default;

  std::vector<std::unique_ptr<File>> files_;
  std::vector<Unit> units_;  // by unit index
};

}  // namespace bloom
