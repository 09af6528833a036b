// Tests that bloom-compile --pp=M writes plans the runtime accepts: a golden
// case checkpoint compiled at pp=2, pp=3 and pp=2 tp=2, then every mesh
// position loaded through LoadedPlan::LoadStage (FlatBuffers verifier and
// ValidatePlan), checked against the runtime's stage contract and against
// the same checkpoint's pp=1 plan (the stages hold its weights and layers
// between them).
#include <sys/wait.h>

#include <cctype>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/plan/plan_loader.h"

namespace bloom {
namespace {

// f16-heads6: 3 layers, 6 heads, hidden 96, tied head: three stages of one
// layer at most, tp=2 divides the heads and the vocabulary.
const std::string kCase = std::string(BLOOM_SOURCE_DIR) + "/test/golden/cases/f16-heads6";
constexpr int kLayers = 3;

std::string MakeTempDir() {
  std::string pattern = ::testing::TempDir() + "/pipeline_plans_XXXXXX";
  const char* dir = mkdtemp(pattern.data());
  return dir ? dir : "";
}

// Runs bloom-compile on the case into `dir` with `flags`; its exit status.
int Compile(const std::string& dir, const std::string& flags) {
  const std::string command = std::string(BLOOM_COMPILE) + " --model=" + kCase + " -o " + dir +
                              " " + flags + " 2>&1";
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

const plan::Tensor* WithRole(const plan::Plan& plan, plan::TensorRole role) {
  for (const plan::Tensor* tensor : *plan.tensors()) {
    if (tensor->role() == role) return tensor;
  }
  return nullptr;
}

// The weight names of a plan, with how often each occurs.
void CountWeights(const plan::Plan& plan, std::map<std::string, int>& count) {
  for (const plan::Tensor* tensor : *plan.tensors()) {
    if (tensor->kind() == plan::TensorKind::Weight) ++count[tensor->name()->str()];
  }
}

struct Mesh {
  int pp, tp;
  std::string flags;
};

class PipelinePlansTest : public ::testing::TestWithParam<Mesh> {};

TEST_P(PipelinePlansTest, EveryPositionLoadsAndTheStagesFitTogether) {
  const Mesh mesh = GetParam();
  const std::string dir = MakeTempDir();
  ASSERT_FALSE(dir.empty());
  const std::string flags = "--pp=" + std::to_string(mesh.pp) + " --tp=" +
                            std::to_string(mesh.tp) + " " + mesh.flags;
  ASSERT_EQ(Compile(dir + "/pp", flags), 0) << flags;
  // The reference: the same checkpoint at pp=1 (and the same tp).
  ASSERT_EQ(Compile(dir + "/whole", "--tp=" + std::to_string(mesh.tp) + " " + mesh.flags), 0);

  for (int rank = 0; rank < mesh.tp; ++rank) {
    std::map<std::string, int> stage_weights, whole_weights;
    absl::StatusOr<LoadedPlan> whole = mesh.tp == 1 ? LoadedPlan::Load(dir + "/whole")
                                                    : LoadedPlan::Load(dir + "/whole", rank);
    ASSERT_TRUE(whole.ok()) << whole.status();
    CountWeights(whole->plan(), whole_weights);
    int kv_layers = 0;
    const plan::Tensor* previous_out = nullptr;
    std::vector<LoadedPlan> stages;
    for (int stage = 0; stage < mesh.pp; ++stage) {
      absl::StatusOr<LoadedPlan> loaded = LoadedPlan::LoadStage(dir + "/pp", stage, rank);
      ASSERT_TRUE(loaded.ok()) << "stage " << stage << " rank " << rank << ": "
                               << loaded.status();
      stages.push_back(*std::move(loaded));
      const plan::Plan& plan = stages.back().plan();
      EXPECT_EQ(plan.pp_stage(), stage);
      EXPECT_EQ(plan.pp_size(), mesh.pp);
      EXPECT_EQ(plan.tp_rank(), rank);
      EXPECT_EQ(plan.tp_size(), mesh.tp);
      const bool first = stage == 0, last = stage == mesh.pp - 1;
      EXPECT_EQ(WithRole(plan, plan::TensorRole::TokenIds) != nullptr, first);
      EXPECT_EQ(WithRole(plan, plan::TensorRole::Logits) != nullptr, last);
      EXPECT_EQ(WithRole(plan, plan::TensorRole::LogitRows) != nullptr, last);
      const plan::Tensor* in = WithRole(plan, plan::TensorRole::HiddenIn);
      const plan::Tensor* out = WithRole(plan, plan::TensorRole::HiddenOut);
      EXPECT_EQ(in != nullptr, !first);
      EXPECT_EQ(out != nullptr, !last);
      // What stage S returns is what stage S+1 reads: the runtime copies
      // one into the other, so dtype and width must agree across the cut
      // (which the validator, seeing one plan, cannot check).
      if (in && previous_out) {
        EXPECT_EQ(in->dtype(), previous_out->dtype()) << "cut before stage " << stage;
        EXPECT_EQ(in->shape()->Get(1), previous_out->shape()->Get(1));
      }
      previous_out = out;
      // Each stage's KV cache holds its own layers, one at least.
      EXPECT_GE(plan.kv_cache()->num_layers(), 1);
      kv_layers += plan.kv_cache()->num_layers();
      CountWeights(plan, stage_weights);
    }
    EXPECT_EQ(kv_layers, kLayers);
    // Between them the stages hold the whole plan's weights, each once,
    // except the tied embedding table, which the first stage's embedding
    // and the last stage's LM head both read.
    std::map<std::string, int> expected = whole_weights;
    expected["word_embeddings.weight"] = 2;
    EXPECT_EQ(stage_weights, expected);
  }
  // A pipeline directory is not one plan, nor a tensor-parallel one.
  EXPECT_FALSE(LoadedPlan::Load(dir + "/pp").ok());
  EXPECT_FALSE(LoadedPlan::Load(dir + "/pp", 0).ok());
  absl::StatusOr<LoadedPlan> output = LoadedPlan::LoadOutputPlan(dir + "/pp");
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_EQ(output->plan().pp_stage(), mesh.pp - 1);
  std::system(("rm -rf " + dir).c_str());
}

INSTANTIATE_TEST_SUITE_P(
    Meshes, PipelinePlansTest,
    ::testing::Values(Mesh{2, 1, ""}, Mesh{3, 1, ""}, Mesh{2, 2, ""}, Mesh{3, 1, "--dtype=bf16"},
                      Mesh{2, 2, "--dtype=fp16"}, Mesh{3, 1, "--pack-weights"},
                      Mesh{2, 1, "--weights=int8"}),
    [](const ::testing::TestParamInfo<Mesh>& info) {
      std::string name = "pp" + std::to_string(info.param.pp) + "_tp" +
                         std::to_string(info.param.tp);
      for (char c : info.param.flags) {
        if (std::isalnum(static_cast<unsigned char>(c))) name += c;
      }
      return name;
    });

}  // namespace
}  // namespace bloom
