#include "runtime/cuda/cuda_rank_executor.h"

#include <cuda_runtime.h>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/cuda_executor.h"
#include "runtime/support/status_macros.h"

namespace bloom {

RankExecutorFactory CudaRankExecutors(const CudaExecutorOptions& cuda) {
  return [cuda](LoadedPlan plan, const ExecutorOptions& options, Communicator& host_comm,
                const RankPlacement& placement) -> absl::StatusOr<std::unique_ptr<StepExecutor>> {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
      cudaGetLastError();
      return absl::FailedPreconditionError(
          absl::StrCat(plan.label(), ": no CUDA GPU is usable; use the CPU backend"));
    }
    CudaRankOptions rank;
    rank.device = placement.local_rank % devices;
    rank.host_comm = &host_comm;
    rank.collectives = cuda.collectives.value_or(
        placement.local_size <= devices ? CudaCollectives::kNccl : CudaCollectives::kHostStaged);
    rank.copy_logits = host_comm.rank() == 0;
    BLOOM_ASSIGN_OR_RETURN(std::unique_ptr<CudaExecutor> executor,
                           CudaExecutor::Create(std::move(plan), options, cuda, rank));
    return std::unique_ptr<StepExecutor>(std::move(executor));
  };
}

}  // namespace bloom
