// bloom-tp-test-tool: the tensor-parallel test model outside GoogleTest,
// for the mpirun tests (test/e2e/tp_mpi.py).
//
//   bloom-tp-test-tool make DIR
//       writes DIR/checkpoint (weights), DIR/tp1 ... DIR/tp4 (plan
//       directories), DIR/missing-checkpoint and DIR/fails-mid-step (tp=2
//       directories whose rank 1 cannot load, or fails in its first step),
//       DIR/pp2, DIR/pp2tp2 (pipeline stages: layer 0 | layer 1),
//       DIR/pp-fails-mid-step (pp=2 x tp=2 whose stage 0 rank 1 fails in
//       its first step), and DIR/reference.f32 (the scenario's direct
//       reference logits).
//   bloom-tp-test-tool run PLAN_DIR OUT.f32
//       runs the scenario (tp_test_model.h) on PLAN_DIR through
//       OpenRankGroup (a pipeline directory: PipelineGroup, or under mpirun
//       OpenDistributedPipeline): a thread per rank, or under mpirun a rank
//       per process (rank 0 drives, the others follow). Rank 0 writes the logit
//       rows as raw float32. With --bad-first-token the first token is 20,
//       which DIR/fails-mid-step's rank 1 rejects.
// Errors: one line, "bloom-tp-test-tool: ...", exit 1.
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "runtime/cpu/cpu_rank_executor.h"
#include "runtime/parallel/distributed_pipeline.h"
#include "runtime/parallel/launcher_env.h"
#include "runtime/parallel/pipeline_group.h"
#include "runtime/parallel/rank_group.h"
#include "test/unit/comm/tp_test_model.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "bloom-tp-test-tool: %s\n", message.c_str());
  return 1;
}

int Make(const std::string& dir) {
  using bloom::testing::TpModelDims;
  const TpModelDims dims;
  const std::string checkpoint = dir + "/checkpoint";
  for (const std::string& d : {dir, checkpoint}) mkdir(d.c_str(), 0755);
  const bloom::testing::TpWeights weights = bloom::testing::MakeTpWeights(dims, 11);
  bloom::testing::WriteTpCheckpoint(checkpoint, dims, weights);
  for (int tp : {1, 2, 3, 4}) {
    const std::string plan_dir = dir + "/tp" + std::to_string(tp);
    mkdir(plan_dir.c_str(), 0755);
    bloom::testing::WriteTpPlanDir(plan_dir, dims, checkpoint, tp);
  }
  auto tweaked = [&](const std::string& name, const bloom::testing::TpPlanTweaks& tweaks) {
    const std::string plan_dir = dir + "/" + name;
    mkdir(plan_dir.c_str(), 0755);
    bloom::testing::WriteBytes(plan_dir + "/plan.rank0.bplan", bloom::testing::BuildTpPlan(dims, checkpoint, 0, 2));
    bloom::testing::WriteBytes(plan_dir + "/plan.rank1.bplan",
                               bloom::testing::BuildTpPlan(dims, checkpoint, 1, 2, tweaks));
  };
  bloom::testing::TpPlanTweaks missing;
  missing.checkpoint_dir = "/nonexistent/bloom-checkpoint";
  tweaked("missing-checkpoint", missing);
  bloom::testing::TpPlanTweaks narrow;
  narrow.embedding_vocab_size = 18;
  tweaked("fails-mid-step", narrow);
  for (const auto& [name, tp] : {std::pair<const char*, int>{"pp2", 1}, {"pp2tp2", 2}}) {
    const std::string plan_dir = dir + "/" + name;
    mkdir(plan_dir.c_str(), 0755);
    bloom::testing::WriteTpPipelineDir(plan_dir, dims, checkpoint, tp, {1});
  }
  const std::string pp_fails = dir + "/pp-fails-mid-step";
  mkdir(pp_fails.c_str(), 0755);
  bloom::testing::WriteTpPipelineDir(pp_fails, dims, checkpoint, 2, {1}, narrow, /*tweaked_stage=*/0,
                                     /*tweaked_rank=*/1);
  std::ofstream out(dir + "/reference.f32", std::ios::binary);
  for (const auto& row : bloom::testing::ReferenceScenario(dims, weights)) {
    for (double v : row) {
      const float f = static_cast<float>(v);
      out.write(reinterpret_cast<const char*>(&f), sizeof(f));
    }
  }
  return out ? 0 : Fail(dir + "/reference.f32: write failed");
}

// The scenario (or the bad first token) on `executor`; its logit rows.
absl::StatusOr<std::vector<std::vector<float>>> Drive(bloom::StepExecutor& executor, bool bad_first_token) {
  if (!bad_first_token) return bloom::testing::RunTpScenario(executor);
  bloom::KvCache& kv = executor.kv_cache();
  auto slot = kv.AddSequence();
  if (!slot.ok() || !kv.Reserve(*slot, 1).ok()) return absl::InternalError("cannot reserve a KV-cache slot");
  const std::vector<int32_t> ids = {20}, positions = {0}, slots = {*slot}, logit_rows = {0};
  absl::Status status = executor.Step(bloom::StepBatch{ids, positions, slots, logit_rows});
  if (!status.ok()) return status;
  return std::vector<std::vector<float>>{};
}

int Write(const std::string& out_path, const std::vector<std::vector<float>>& rows) {
  std::ofstream out(out_path, std::ios::binary);
  for (const auto& row : rows) out.write(reinterpret_cast<const char*>(row.data()), row.size() * sizeof(float));
  return out ? 0 : Fail(out_path + ": write failed");
}

int RunPipeline(const std::string& plan_dir, const std::string& out_path, bool bad_first_token,
                const bloom::RankGroupOptions& options) {
  if (bloom::LaunchedByMpiLauncher()) {
    auto pipeline = bloom::OpenDistributedPipeline(plan_dir, options);
    if (!pipeline.ok()) return Fail(std::string(pipeline.status().message()));
    if (!(*pipeline)->is_leader()) {
      absl::Status status = (*pipeline)->RunFollower();
      return status.ok() ? 0 : Fail(std::string(status.message()));
    }
    auto rows = Drive(**pipeline, bad_first_token);
    if (!rows.ok()) return Fail(std::string(rows.status().message()));
    if (absl::Status s = (*pipeline)->Shutdown(); !s.ok()) return Fail(std::string(s.message()));
    return Write(out_path, *rows);
  }
  bloom::PipelineGroupOptions pipeline_options;
  pipeline_options.ranks = options;
  auto pipeline = bloom::PipelineGroup::CreateThreaded(plan_dir, pipeline_options);
  if (!pipeline.ok()) return Fail(std::string(pipeline.status().message()));
  auto rows = Drive(**pipeline, bad_first_token);
  if (!rows.ok()) return Fail(std::string(rows.status().message()));
  return Write(out_path, *rows);
}

int Run(const std::string& plan_dir, const std::string& out_path, bool bad_first_token) {
  bloom::RankGroupOptions options;
  options.collective_timeout = absl::Seconds(30);
  options.make_executor = bloom::CpuRankExecutors();
  if (bloom::IsPipelineDirectory(plan_dir)) return RunPipeline(plan_dir, out_path, bad_first_token, options);
  auto group = bloom::OpenRankGroup(plan_dir, options);
  if (!group.ok()) return Fail(std::string(group.status().message()));
  if (!(*group)->is_leader()) {
    absl::Status status = (*group)->RunFollower();
    return status.ok() ? 0 : Fail(std::string(status.message()));
  }
  auto rows = Drive(**group, bad_first_token);
  if (!rows.ok()) return Fail(std::string(rows.status().message()));
  absl::Status shutdown = (*group)->Shutdown();
  if (!shutdown.ok()) return Fail(std::string(shutdown.message()));
  return Write(out_path, *rows);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string usage = "usage: bloom-tp-test-tool make DIR | run PLAN_DIR OUT.f32 [--bad-first-token]";
  if (argc >= 3 && std::string(argv[1]) == "make") return Make(argv[2]);
  if (argc >= 4 && std::string(argv[1]) == "run") {
    return Run(argv[2], argv[3], argc >= 5 && std::string(argv[4]) == "--bad-first-token");
  }
  return Fail(usage);
}
