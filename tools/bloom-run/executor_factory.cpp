#include "tools/bloom-run/executor_factory.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "runtime/exec/cpu_executor.h"
#ifdef BLOOM_HAVE_CUDA
namespace bloom {
// Declared in runtime/cuda/cuda_executor.h; repeated here so that this file
// sees only the factory's signature, not the CUDA executor's class (whose
// header needs the CUDA toolkit's headers and its private types).
absl::StatusOr<std::unique_ptr<StepExecutor>> CreateCudaExecutor(LoadedPlan plan,
                                                                 const ExecutorOptions& options);
}  // namespace bloom
#endif

namespace bloom::run {
namespace {

// "\rloading weights [########............] 12/30" on stderr, redrawn in
// place; the last call ends the line.
void DrawProgress(size_t done, size_t total) {
  constexpr int kWidth = 30;
  const int filled = total == 0 ? kWidth : static_cast<int>(kWidth * done / total);
  std::string bar(filled, '#');
  bar.append(kWidth - filled, '.');
  std::fprintf(stderr, "\rloading weights [%s] %zu/%zu%s", bar.c_str(), done, total,
               done >= total ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace

absl::Status CheckBackendAvailable(const std::string& backend) {
  if (backend == "cpu") return absl::OkStatus();
  if (backend == "cuda") {
#ifdef BLOOM_HAVE_CUDA
    return absl::OkStatus();
#else
    return absl::UnimplementedError("this bloom-run was built without CUDA");
#endif
  }
  return absl::InvalidArgumentError(absl::StrCat("--backend: '", backend, "' is not cpu or cuda"));
}

absl::StatusOr<std::unique_ptr<StepExecutor>> CreateExecutor(const std::string& backend,
                                                             LoadedPlan plan,
                                                             const std::string& checkpoint_dir,
                                                             bool progress) {
  if (absl::Status s = CheckBackendAvailable(backend); !s.ok()) return s;
  ExecutorOptions options;
  options.checkpoint_dir = checkpoint_dir;
  if (progress) options.on_weight_loaded = DrawProgress;
#ifdef BLOOM_HAVE_CUDA
  if (backend == "cuda") return CreateCudaExecutor(std::move(plan), options);
#endif
  absl::StatusOr<std::unique_ptr<CpuExecutor>> cpu = CpuExecutor::Create(std::move(plan), options);
  if (!cpu.ok()) return cpu.status();
  return std::unique_ptr<StepExecutor>(*std::move(cpu));
}

}  // namespace bloom::run
