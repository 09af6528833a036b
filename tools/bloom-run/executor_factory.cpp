#include "tools/bloom-run/executor_factory.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "runtime/exec/cpu_executor.h"
#ifdef BLOOM_HAVE_CUDA
#include "runtime/cuda/cuda_executor.h"
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

absl::StatusOr<Backend> CreateBackend(const std::string& backend, LoadedPlan plan,
                                      const std::string& checkpoint_dir, bool progress) {
  if (absl::Status s = CheckBackendAvailable(backend); !s.ok()) return s;
  ExecutorOptions options;
  options.checkpoint_dir = checkpoint_dir;
  if (progress) options.on_weight_loaded = DrawProgress;
  Backend result;
#ifdef BLOOM_HAVE_CUDA
  if (backend == "cuda") {
    absl::StatusOr<std::unique_ptr<CudaExecutor>> cuda =
        CudaExecutor::Create(std::move(plan), options);
    if (!cuda.ok()) return cuda.status();
    CudaExecutor* raw = cuda->get();
    result.greedy_step = [raw](const StepBatch& batch) { return raw->StepGreedy(batch); };
    result.executor = *std::move(cuda);
    return result;
  }
#endif
  absl::StatusOr<std::unique_ptr<CpuExecutor>> cpu = CpuExecutor::Create(std::move(plan), options);
  if (!cpu.ok()) return cpu.status();
  result.executor = *std::move(cpu);
  return result;
}

}  // namespace bloom::run
