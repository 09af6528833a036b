// End-to-end parity on the GPU: the golden cases of test/golden/cases (a
// checkpoint and transformers 5.17's fp32 forward: prompt, greedy tokens,
// every logit row), run through plans compiled on the build machine (the
// GPU machine has no MLIR) and the CUDA executor.
//
//   fp32 plans ("<case>"):      greedy tokens identical to transformers',
//                               every logit within 1e-3 of transformers'
//                               (test/e2e/golden_parity.py's bound for the
//                               CPU backend), and the greedy fast path
//                               (argmax on the GPU) giving the same tokens;
//   bf16 plans ("<case>.bf16"): greedy tokens identical to transformers',
//                               logits within a normalised error of 3e-2 of
//                               the fp32 goldens (bf16 keeps 8 significant
//                               bits: each stored activation and weight is
//                               off by up to 2^-9 relative, and a few
//                               layers of such rounding compound to ~1e-2).
//
// Plans come from $BLOOM_GPU_PLANS/<case>[.bf16] (scripts/gpu/prepare.sh
// makes them); the repository (for checkpoints and goldens) is
// $BLOOM_REPO, else the source tree this was built from.
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sys/stat.h>

#include "nlohmann/json.hpp"
#include "runtime/cuda/cuda_executor.h"
#include "runtime/exec/generator.h"
#include "runtime/support/npy.h"
#include "test/gpu/gpu_test_util.h"

namespace bloom::gpu_test {
namespace {

std::string Repo() {
  const char* repo = std::getenv("BLOOM_REPO");
  return repo != nullptr ? repo : BLOOM_SOURCE_DIR;
}

bool IsDirectory(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

class GoldenOnGpu : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(GoldenOnGpu, TokensAndLogitsMatchTransformers) {
  BLOOM_SKIP_WITHOUT_GPU();
  const auto& [name, bf16] = GetParam();
  const char* plans = std::getenv("BLOOM_GPU_PLANS");
  if (plans == nullptr) GTEST_SKIP() << "BLOOM_GPU_PLANS is not set (scripts/gpu/prepare.sh compiles the plans)";
  const std::string plan_dir = std::string(plans) + "/" + name + (bf16 ? ".bf16" : "");
  if (!IsDirectory(plan_dir)) GTEST_SKIP() << "no compiled plan at " << plan_dir;

  const std::string case_dir = Repo() + "/test/golden/cases/" + name;
  std::ifstream golden_file(case_dir + "/golden.json");
  ASSERT_TRUE(golden_file) << case_dir << "/golden.json";
  const nlohmann::json golden = nlohmann::json::parse(golden_file);
  const std::vector<int32_t> prompt = golden["prompt_tokens"].get<std::vector<int32_t>>();
  const std::vector<int32_t> expected = golden["generated_tokens"].get<std::vector<int32_t>>();
  absl::StatusOr<NpyArray> expected_logits =
      ReadNpyFloat32(case_dir + "/" + golden["logits_file"].get<std::string>());
  ASSERT_TRUE(expected_logits.ok()) << expected_logits.status();

  absl::StatusOr<LoadedPlan> plan = LoadedPlan::Load(plan_dir);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ExecutorOptions options;
  options.checkpoint_dir =
      golden.contains("checkpoint_dir") ? Repo() + "/" + golden["checkpoint_dir"].get<std::string>() : case_dir;
  absl::StatusOr<std::unique_ptr<CudaExecutor>> executor = CudaExecutor::Create(*std::move(plan), options);
  ASSERT_TRUE(executor.ok()) << executor.status();

  GenerationOptions generation;
  generation.max_new_tokens = golden["max_new_tokens"].get<int32_t>();
  generation.keep_all_logits = true;
  absl::StatusOr<GenerationResult> result = GenerateGreedy(**executor, prompt, generation);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->tokens, expected) << name << ": greedy tokens differ from transformers'";
  ASSERT_EQ(result->logits.size(), expected_logits->data.size());
  ASSERT_TRUE(AllFinite(result->logits));
  double worst = 0.0;
  for (size_t i = 0; i < result->logits.size(); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(result->logits[i]) - expected_logits->data[i]));
  }
  const double normalized = NormalizedError(result->logits, expected_logits->data);
  RecordProperty("max_abs_logit_error", std::to_string(worst));
  RecordProperty("normalized_logit_error", std::to_string(normalized));
  std::printf("[golden] %s%s: max |gpu - transformers| = %.3g, normalised %.3g, decode graphs %d\n",
              name.c_str(), bf16 ? " (bf16 plan)" : "", worst, normalized, (*executor)->graphs_captured());
  if (bf16) {
    EXPECT_LE(normalized, 3e-2) << name << ": bf16 logits too far from the fp32 goldens";
  } else {
    EXPECT_LE(worst, 1e-3) << name << ": logits differ from transformers' beyond 1e-3";
  }
  EXPECT_GE((*executor)->graphs_captured(), 1) << "decode steps should have been captured as a graph";

  // The greedy fast path: the same tokens from argmax on the GPU, with
  // no logits copied back.
  CudaExecutor& gpu = **executor;
  KvCache& cache = gpu.kv_cache();
  absl::StatusOr<int32_t> slot = cache.AddSequence();
  ASSERT_TRUE(slot.ok());
  std::vector<int32_t> tokens;
  int32_t position = 0;
  for (size_t begin = 0; begin < prompt.size();) {
    const size_t count = std::min<size_t>(prompt.size() - begin, gpu.plan().limits()->max_batch_tokens());
    ASSERT_TRUE(cache.Reserve(*slot, static_cast<int32_t>(begin + count)).ok());
    std::vector<int32_t> positions(count), slots(count, *slot);
    for (size_t i = 0; i < count; ++i) positions[i] = static_cast<int32_t>(begin + i);
    const int32_t last = static_cast<int32_t>(count - 1);
    absl::StatusOr<absl::Span<const int32_t>> next =
        gpu.StepGreedy({absl::MakeConstSpan(prompt).subspan(begin, count), positions, slots,
                        absl::MakeConstSpan(&last, 1)});
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_TRUE(gpu.logits().empty());
    begin += count;
    if (begin == prompt.size()) tokens.push_back((*next)[0]);
  }
  position = static_cast<int32_t>(prompt.size());
  const int32_t zero = 0;
  while (tokens.size() < expected.size()) {
    ASSERT_TRUE(cache.Reserve(*slot, position + 1).ok());
    const int32_t token = tokens.back();
    absl::StatusOr<absl::Span<const int32_t>> next = gpu.StepGreedy(
        {absl::MakeConstSpan(&token, 1), absl::MakeConstSpan(&position, 1), absl::MakeConstSpan(&*slot, 1),
         absl::MakeConstSpan(&zero, 1)});
    ASSERT_TRUE(next.ok()) << next.status();
    tokens.push_back((*next)[0]);
    ++position;
  }
  EXPECT_EQ(tokens, expected) << name << ": StepGreedy's tokens differ from transformers'";
  cache.RemoveSequence(*slot);
}

INSTANTIATE_TEST_SUITE_P(Cases, GoldenOnGpu,
                         ::testing::Combine(::testing::Values("f32-basic", "f16-heads6", "bf16-long-prompt",
                                                              "sharded-bare-postln", "tiny-random-text"),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           std::string name = std::get<0>(info.param) + (std::get<1>(info.param) ? "_bf16" : "_fp32");
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

TEST(CudaExecutorErrors, NoGpuIsAnErrorNotACrash) {
  if (HasGpu()) GTEST_SKIP() << "a GPU is present; this checks the message without one";
  const std::string case_dir = Repo() + "/test/golden/cases/f32-basic";
  // Any plan will do; without a GPU, Create must fail before reading it.
  const char* plans = std::getenv("BLOOM_GPU_PLANS");
  if (plans == nullptr) GTEST_SKIP() << "BLOOM_GPU_PLANS is not set";
  absl::StatusOr<LoadedPlan> plan = LoadedPlan::Load(std::string(plans) + "/f32-basic");
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<std::unique_ptr<StepExecutor>> executor = CreateCudaExecutor(*std::move(plan), {});
  ASSERT_FALSE(executor.ok());
  EXPECT_EQ(executor.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(executor.status().message().find("no CUDA GPU"), std::string::npos) << executor.status();
}

}  // namespace
}  // namespace bloom::gpu_test
