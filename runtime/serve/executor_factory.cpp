#include "runtime/serve/executor_factory.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "runtime/cpu/cpu_executor.h"
#include "runtime/cpu/cpu_rank_executor.h"
#include "runtime/exec/weight_source.h"
#include "runtime/parallel/launcher_env.h"
#include "runtime/parallel/distributed_pipeline.h"
#include "runtime/parallel/pipeline_group.h"
#ifdef BLOOM_HAVE_CUDA
#include "runtime/cuda/cuda_executor.h"
#include "runtime/cuda/cuda_rank_executor.h"
#endif

namespace bloom::serve {
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

// The rank group's options for `backend` (checked available), for a plan
// of `ranks` mesh positions (pp × tp).
absl::StatusOr<RankGroupOptions> GroupOptions(const std::string& backend,
                                              const ExecutorOptions& options,
                                              const BackendChoices& choices, int ranks = 1) {
  RankGroupOptions group_options;
  group_options.executor = options;
  // Replica k's ranks come after the k replicas before it.
  group_options.first_local_rank = choices.replica * ranks;
  group_options.local_ranks = choices.replicas > 1 ? choices.replicas * ranks : 0;
  group_options.make_executor = CpuRankExecutors();
#ifdef BLOOM_HAVE_CUDA
  if (backend == "cuda") {
    CudaExecutorOptions cuda;
    absl::StatusOr<std::optional<CudaCollectives>> collectives =
        ParseCudaCollectives(choices.cuda_collectives);
    if (!collectives.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--cuda-collectives: ", collectives.status().message()));
    }
    cuda.collectives = *collectives;
    group_options.make_executor = CudaRankExecutors(cuda);
  }
#else
  (void)choices;
#endif
  return group_options;
}

#ifdef BLOOM_HAVE_CUDA
// A one-GPU plan's device: replica k takes GPU k (modulo the GPUs there are).
CudaRankOptions ReplicaRank(const BackendChoices& choices) {
  CudaRankOptions rank;
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    cudaGetLastError();  // CudaExecutor::Create reports the missing GPU
    return rank;
  }
  rank.device = choices.replica % devices;
  return rank;
}
#endif

// The executor's own greedy step and token choice, where it has them, as
// the engine's EngineOptions paths.
void OfferDeviceChoice(StepExecutor& executor, Backend& result) {
  StepExecutor* raw = &executor;
  if (raw->has_greedy_step()) {
    result.greedy_step = [raw](const StepBatch& batch) { return raw->StepGreedy(batch); };
  }
  if (raw->has_device_choice()) {
    result.device_choice = [raw](const StepBatch& batch, const TokenChoices& choices) {
      return raw->StepAndChoose(batch, choices);
    };
  }
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
                                      const std::string& plan_dir,
                                      const std::string& checkpoint_dir, bool progress,
                                      const BackendChoices& choices) {
  if (absl::Status s = CheckBackendAvailable(backend); !s.ok()) return s;
  ExecutorOptions options;
  options.checkpoint_dir = checkpoint_dir;
  if (progress) options.on_weight_loaded = DrawProgress;
  Backend result;
  result.generated_weights_seed = GeneratedWeightsSeed(plan.plan(), checkpoint_dir);
  const int ranks = plan.plan().pp_size() * plan.plan().tp_size();
  if (plan.plan().pp_size() > 1) {
    absl::StatusOr<RankGroupOptions> group_options = GroupOptions(backend, options, choices, ranks);
    if (!group_options.ok()) return group_options.status();
    if (LaunchedByMpiLauncher()) {
      absl::StatusOr<std::unique_ptr<DistributedPipeline>> group =
          OpenDistributedPipeline(plan_dir, *std::move(group_options));
      if (!group.ok()) return group.status();
      result.executor = *std::move(group);
      return result;
    }
    PipelineGroupOptions pipeline;
    pipeline.ranks = *std::move(group_options);
    absl::StatusOr<std::unique_ptr<PipelineGroup>> group =
        PipelineGroup::CreateThreaded(plan_dir, pipeline);
    if (!group.ok()) return group.status();
    // The last stage chooses the tokens on its device where it can.
    OfferDeviceChoice(*group->get(), result);
    result.executor = *std::move(group);
    return result;
  }
  if (plan.plan().tp_size() > 1 || LaunchedByMpiLauncher()) {
    absl::StatusOr<RankGroupOptions> group_options = GroupOptions(backend, options, choices, ranks);
    if (!group_options.ok()) return group_options.status();
    absl::StatusOr<std::unique_ptr<RankGroup>> group =
        OpenRankGroup(plan_dir, *std::move(group_options));
    if (!group.ok()) return group.status();
    result.rank_group = group->get();
    OfferDeviceChoice(*group->get(), result);
    result.executor = *std::move(group);
    return result;
  }
#ifdef BLOOM_HAVE_CUDA
  if (backend == "cuda") {
    absl::StatusOr<std::unique_ptr<CudaExecutor>> cuda =
        CudaExecutor::Create(std::move(plan), options, CudaExecutorOptions{}, ReplicaRank(choices));
    if (!cuda.ok()) return cuda.status();
    OfferDeviceChoice(*cuda->get(), result);
    result.executor = *std::move(cuda);
    return result;
  }
#endif
  absl::StatusOr<std::unique_ptr<CpuExecutor>> cpu = CpuExecutor::Create(std::move(plan), options);
  if (!cpu.ok()) return cpu.status();
  result.executor = *std::move(cpu);
  return result;
}

int RunMpiFollower(const std::string& backend, const std::string& plan_dir,
                   const std::string& checkpoint_dir, const BackendChoices& choices) {
  ExecutorOptions executor;
  executor.checkpoint_dir = checkpoint_dir;
  absl::StatusOr<RankGroupOptions> group_options = GroupOptions(backend, executor, choices);
  if (!group_options.ok()) return 1;
  if (IsPipelineDirectory(plan_dir)) {
    absl::StatusOr<std::unique_ptr<DistributedPipeline>> pipeline =
        OpenDistributedPipeline(plan_dir, *std::move(group_options));
    // Every rank gets the same error; rank 0 prints it.
    if (!pipeline.ok()) return 1;
    return (*pipeline)->RunFollower().ok() ? 0 : 1;
  }
  absl::StatusOr<std::unique_ptr<RankGroup>> group =
      OpenRankGroup(plan_dir, *std::move(group_options));
  // Every rank gets the same error; rank 0 prints it.
  if (!group.ok()) return 1;
  return (*group)->RunFollower().ok() ? 0 : 1;
}

}  // namespace bloom::serve
