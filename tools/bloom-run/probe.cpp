#include "tools/bloom-run/probe.h"

#include <sys/stat.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "runtime/exec/link_probe.h"
#include "runtime/serve/executor_factory.h"
#ifdef BLOOM_HAVE_CUDA
#include "runtime/cuda/device_probe.h"
#endif

namespace bloom::run {
namespace {

constexpr size_t kHostBytes = size_t{256} << 20;
constexpr size_t kDeviceBytes = size_t{1} << 30;

int Fail(int code, const absl::Status& status) {
  std::fprintf(stderr, "bloom-run: %s\n", std::string(status.message()).c_str());
  return code;
}

std::string Flag(const char* name, double gb_per_s) {
  return absl::StrFormat("--%s=%.3gGB/s", name, gb_per_s);
}

}  // namespace

int RunProbe(const tools::CommandLine& cl) {
  if (!cl.positional().empty()) {
    return Fail(2,
                absl::InvalidArgumentError("--probe takes no PLAN_DIR: it measures the machine"));
  }
  const std::string backend = cl.GetString("backend");
  if (absl::Status s = serve::CheckBackendAvailable(backend); !s.ok()) return Fail(2, s);
  const std::string disk_dir = cl.GetString("disk-dir");
  struct stat info {};
  if (!disk_dir.empty() && (stat(disk_dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode))) {
    return Fail(2, absl::InvalidArgumentError(
                       absl::StrCat("--disk-dir: '", disk_dir, "' is not a directory")));
  }
  absl::StatusOr<HostLinks> host = ProbeHostLinks(disk_dir, kHostBytes);
  if (!host.ok()) return Fail(1, host.status());
  nlohmann::json out;
  out["backend"] = backend;
  out["memory_copy_gb_per_s"] = host->memory_copy_gb_per_s;
  // On the CPU backend a host unit is copied into its slot in memory, and
  // the "device" is host memory.
  double device = host->memory_copy_gb_per_s, h2d = host->memory_copy_gb_per_s;
#ifdef BLOOM_HAVE_CUDA
  if (backend == "cuda") {
    absl::StatusOr<DeviceLinks> links = ProbeDeviceLinks(kDeviceBytes);
    if (!links.ok()) return Fail(1, links.status());
    device = links->device_copy_gb_per_s;
    h2d = links->h2d_pinned_gb_per_s;
    out["device_copy_gb_per_s"] = device;
    out["h2d_pinned_gb_per_s"] = h2d;
  }
#endif
  std::string flags = Flag("device-bandwidth", device) + " " + Flag("h2d-bandwidth", h2d);
  if (!disk_dir.empty()) {
    out["disk_dir"] = disk_dir;
    out["disk_read_gb_per_s"] = host->disk_read_gb_per_s;
    out["disk_direct"] = host->disk_direct;
    flags += " " + Flag("disk-bandwidth", host->disk_read_gb_per_s);
  }
  out["bloom_compile_flags"] = flags;
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace bloom::run
