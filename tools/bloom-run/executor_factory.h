// Creates the StepExecutor of the backend named on the command line. The
// rest of bloom-run sees only the StepExecutor interface. The CUDA backend
// exists only when the build has it (BLOOM_HAVE_CUDA, from the
// bloom_cuda_runtime target); otherwise --backend=cuda is a usage error.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/exec/executor.h"
#include "runtime/exec/scheduler.h"
#include "runtime/plan/plan_loader.h"

namespace bloom::run {

// Whether this binary can run `backend` ("cpu" or "cuda"); the error is the
// one line to print (a usage error).
absl::Status CheckBackendAvailable(const std::string& backend);

struct Backend {
  std::unique_ptr<StepExecutor> executor;
  // The backend's fused step + on-device argmax, for the scheduler's greedy
  // steps (SchedulerOptions::greedy_step); empty where there is none (CPU).
  GreedyStepFn greedy_step;
};

// Loads the plan's weights onto the backend's device. With `progress`, a
// bar on stderr follows the weights as they load (callers pass it only
// when stderr is a terminal).
absl::StatusOr<Backend> CreateBackend(const std::string& backend, LoadedPlan plan,
                                      const std::string& checkpoint_dir, bool progress);

}  // namespace bloom::run
