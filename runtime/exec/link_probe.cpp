#include "runtime/exec/link_probe.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"

namespace bloom {
namespace {

constexpr size_t kAlignment = 4096;
constexpr size_t kChunk = size_t{8} << 20;  // the disk tier's read size

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

absl::Status Errno(const std::string& what) {
  return absl::FailedPreconditionError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// The fastest of a few passes: the link's capability, not the noise.
template <typename F>
double BestSeconds(int passes, F&& pass) {
  double best = 1e30;
  for (int i = 0; i < passes; ++i) {
    const Clock::time_point start = Clock::now();
    pass();
    best = std::min(best, Seconds(start));
  }
  return best;
}

}  // namespace

absl::StatusOr<HostLinks> ProbeHostLinks(const std::string& disk_dir, size_t bytes) {
  bytes = std::max(kChunk, bytes / kChunk * kChunk);
  std::unique_ptr<uint8_t, decltype(&std::free)> a(
      static_cast<uint8_t*>(std::aligned_alloc(kAlignment, bytes)), &std::free);
  std::unique_ptr<uint8_t, decltype(&std::free)> b(
      static_cast<uint8_t*>(std::aligned_alloc(kAlignment, bytes)), &std::free);
  if (a == nullptr || b == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("--probe: cannot allocate 2 x ", bytes, " bytes"));
  }
  std::memset(a.get(), 1, bytes);
  std::memset(b.get(), 2, bytes);
  HostLinks links;
  const double copy_s = BestSeconds(3, [&] { std::memcpy(b.get(), a.get(), bytes); });
  links.memory_copy_gb_per_s = 2.0 * bytes / copy_s / 1e9;
  if (disk_dir.empty()) return links;

  const std::string path = absl::StrCat(disk_dir, "/.bloom-probe-", getpid());
  const int out = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0) return Errno(absl::StrCat("--disk-dir: cannot create ", path));
  struct Remove {
    std::string path;
    ~Remove() { unlink(path.c_str()); }
  } remove{path};
  for (size_t done = 0; done < bytes;) {
    const ssize_t n = write(out, a.get() + done, bytes - done);
    if (n <= 0) {
      close(out);
      return Errno(absl::StrCat("--disk-dir: writing ", bytes, " bytes to ", path));
    }
    done += static_cast<size_t>(n);
  }
  fsync(out);
  close(out);
  int in = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
  links.disk_direct = in >= 0;
  if (in < 0) in = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return Errno(absl::StrCat("--disk-dir: cannot read ", path));
  absl::Status read_status;
  const double read_s = BestSeconds(2, [&] {
    // Without O_DIRECT the written pages are still cached: drop them first.
    posix_fadvise(in, 0, static_cast<off_t>(bytes), POSIX_FADV_DONTNEED);
    for (size_t done = 0; done < bytes && read_status.ok(); done += kChunk) {
      if (pread(in, b.get() + done, kChunk, static_cast<off_t>(done)) !=
          static_cast<ssize_t>(kChunk)) {
        read_status = Errno(absl::StrCat("--disk-dir: reading ", path));
      }
    }
  });
  close(in);
  if (!read_status.ok()) return read_status;
  links.disk_read_gb_per_s = bytes / read_s / 1e9;
  return links;
}

}  // namespace bloom
