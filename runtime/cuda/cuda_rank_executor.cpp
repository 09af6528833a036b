#include "runtime/cuda/cuda_rank_executor.h"

#include <cuda_runtime.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/cuda_executor.h"
#include "runtime/support/status_macros.h"

namespace bloom {
namespace {

absl::StatusOr<CudaCollectives> ChooseCollectives(int local_size, int devices) {
  const char *forced = std::getenv("BLOOM_CUDA_COLLECTIVES");
  if (forced == nullptr || *forced == '\0') {
    return local_size <= devices ? CudaCollectives::kNccl : CudaCollectives::kHostStaged;
  }
  const std::string value = forced;
  if (value == "nccl") return CudaCollectives::kNccl;
  if (value == "host") return CudaCollectives::kHostStaged;
  return absl::InvalidArgumentError(
      absl::StrCat("BLOOM_CUDA_COLLECTIVES='", value, "': expected nccl or host"));
}

}  // namespace

RankExecutorFactory CudaRankExecutors() {
  return [](LoadedPlan plan, const ExecutorOptions &options, Communicator &host_comm,
            const RankPlacement &placement) -> absl::StatusOr<std::unique_ptr<StepExecutor>> {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
      cudaGetLastError();
      return absl::FailedPreconditionError(
          absl::StrCat(plan.label(), ": no CUDA GPU is usable; use the CPU backend"));
    }
    CudaRankOptions rank;
    rank.device = placement.local_rank % devices;
    rank.host_comm = &host_comm;
    BLOOM_ASSIGN_OR_RETURN(rank.collectives, ChooseCollectives(placement.local_size, devices));
    rank.copy_logits = host_comm.rank() == 0;
    BLOOM_ASSIGN_OR_RETURN(std::unique_ptr<CudaExecutor> executor,
                           CudaExecutor::Create(std::move(plan), options, rank));
    return std::unique_ptr<StepExecutor>(std::move(executor));
  };
}

}  // namespace bloom
