// Creates the StepExecutor of the backend named on the command line. The
// rest of bloom-run sees only the StepExecutor interface. The CUDA backend
// exists only when the build has it (BLOOM_HAVE_CUDA, from the
// bloom_cuda_runtime target); otherwise --backend=cuda is a usage error.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/exec/executor.h"
#include "runtime/parallel/rank_group.h"
#include "runtime/plan/plan_loader.h"
#include "runtime/serve/scheduler.h"

namespace bloom::serve {

// Whether this binary can run `backend` ("cpu" or "cuda"); the error is the
// one line to print (a usage error).
absl::Status CheckBackendAvailable(const std::string& backend);

// What a user chooses about the backend beyond its name (bloom-run's
// flags); the CPU backend ignores the CUDA choices.
struct BackendChoices {
  // How CUDA tensor-parallel ranks exchange activations: "auto" (NCCL when
  // every rank of the host has a GPU of its own, else through host memory),
  // "nccl" or "host".
  std::string cuda_collectives = "auto";
  // Data-parallel replicas of one process (bloom-serve --replicas=K): this
  // backend is replica `replica` of `replicas`, and its ranks take the
  // devices from replica · (its ranks) on, so that each replica runs on
  // GPUs of its own (modulo the GPUs there are). The CPU backend ignores it.
  int replica = 0;
  int replicas = 1;
};

struct Backend {
  std::unique_ptr<StepExecutor> executor;
  // The backend's fused step + on-device argmax, for the scheduler's greedy
  // steps (SchedulerOptions::greedy_step); empty where there is none (CPU).
  GreedyStepFn greedy_step;
  // The backend's fused step + on-device token choice (every request's
  // sampling settings), for EngineOptions::device_choice; empty where there
  // is none (CPU).
  DeviceChoiceFn device_choice;
  // Set when the plan is tensor-parallel or the process was started by
  // mpirun: `executor` is then this group (rank 0's face of it).
  RankGroup* rank_group = nullptr;
  // The seed of generated weights (a layout-only synthetic checkpoint),
  // nullopt for stored ones.
  std::optional<uint64_t> generated_weights_seed;
};

// Loads the plan's weights onto the backend's device. With `progress`, a
// bar on stderr follows the weights as they load (callers pass it only
// when stderr is a terminal).
// A tensor-parallel plan directory (tp_size > 1), or any plan under mpirun,
// runs as a RankGroup of the backend's executors: a thread per rank, or a
// rank per process under mpirun (`plan_dir` is then reloaded rank by rank).
// On CUDA each rank gets a GPU (runtime/cuda/cuda_rank_executor.h). A
// pipeline-parallel directory (`plan` is its last stage's) runs as a
// PipelineGroup of the stages' rank groups, threads in this process, or
// under mpirun as this process's position of a DistributedPipeline.
absl::StatusOr<Backend> CreateBackend(const std::string& backend, LoadedPlan plan,
                                      const std::string& plan_dir,
                                      const std::string& checkpoint_dir, bool progress,
                                      const BackendChoices& choices = {});

// Under mpirun, every process but rank 0 runs this instead of reading any
// input: it joins the rank group and executes rank 0's steps until rank 0
// shuts the group down. Returns the exit code.
int RunMpiFollower(const std::string& backend, const std::string& plan_dir,
                   const std::string& checkpoint_dir, const BackendChoices& choices = {});

}  // namespace bloom::serve
