// bloom-tp-test-tool: the tensor-parallel test model outside GoogleTest,
// for the mpirun tests (test/e2e/tp_mpi.py).
//
//   bloom-tp-test-tool make DIR
//       writes DIR/checkpoint (weights), DIR/tp1 ... DIR/tp4 (plan
//       directories), DIR/missing-checkpoint and DIR/fails-mid-step (tp=2
//       directories whose rank 1 cannot load, or fails in its first step),
//       and DIR/reference.f32 (the scenario's direct reference logits).
//   bloom-tp-test-tool run PLAN_DIR OUT.f32
//       runs the scenario (tp_test_model.h) on PLAN_DIR through
//       OpenRankGroup: a thread per rank, or under mpirun a rank per
//       process (rank 0 drives, the others follow). Rank 0 writes the logit
//       rows as raw float32. With --bad-first-token the first token is 20,
//       which DIR/fails-mid-step's rank 1 rejects.
// Errors: one line, "bloom-tp-test-tool: ...", exit 1.
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "runtime/cpu/cpu_rank_executor.h"
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
  std::ofstream out(dir + "/reference.f32", std::ios::binary);
  for (const auto& row : bloom::testing::ReferenceScenario(dims, weights)) {
    for (double v : row) {
      const float f = static_cast<float>(v);
      out.write(reinterpret_cast<const char*>(&f), sizeof(f));
    }
  }
  return out ? 0 : Fail(dir + "/reference.f32: write failed");
}

int Run(const std::string& plan_dir, const std::string& out_path, bool bad_first_token) {
  bloom::RankGroupOptions options;
  options.collective_timeout = absl::Seconds(30);
  options.make_executor = bloom::CpuRankExecutors();
  auto group = bloom::OpenRankGroup(plan_dir, options);
  if (!group.ok()) return Fail(std::string(group.status().message()));
  if (!(*group)->is_leader()) {
    absl::Status status = (*group)->RunFollower();
    return status.ok() ? 0 : Fail(std::string(status.message()));
  }
  std::vector<std::vector<float>> rows;
  if (bad_first_token) {
    bloom::KvCache& kv = (*group)->kv_cache();
    auto slot = kv.AddSequence();
    if (!slot.ok() || !kv.Reserve(*slot, 1).ok()) return Fail("cannot reserve a KV-cache slot");
    const std::vector<int32_t> ids = {20}, positions = {0}, slots = {*slot}, logit_rows = {0};
    absl::Status status = (*group)->Step(bloom::StepBatch{ids, positions, slots, logit_rows});
    if (!status.ok()) return Fail(std::string(status.message()));
  } else {
    auto result = bloom::testing::RunTpScenario(**group);
    if (!result.ok()) return Fail(std::string(result.status().message()));
    rows = *std::move(result);
  }
  absl::Status shutdown = (*group)->Shutdown();
  if (!shutdown.ok()) return Fail(std::string(shutdown.message()));
  std::ofstream out(out_path, std::ios::binary);
  for (const auto& row : rows) out.write(reinterpret_cast<const char*>(row.data()), row.size() * sizeof(float));
  return out ? 0 : Fail(out_path + ": write failed");
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
