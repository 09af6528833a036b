#include "runtime/cpu/cpu_rank_executor.h"

#include <memory>
#include <utility>

#include "runtime/cpu/cpu_executor.h"
#include "runtime/support/status_macros.h"

namespace bloom {

RankExecutorFactory CpuRankExecutors() {
  return [](LoadedPlan plan, const ExecutorOptions& options, Communicator& host_comm,
            const RankPlacement&) -> absl::StatusOr<std::unique_ptr<StepExecutor>> {
    BLOOM_ASSIGN_OR_RETURN(std::unique_ptr<CpuExecutor> cpu,
                           CpuExecutor::Create(std::move(plan), options, &host_comm));
    return std::unique_ptr<StepExecutor>(std::move(cpu));
  };
}

}  // namespace bloom
