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
#include <cstdio>
#include <cstdlib>

#include "runtime/cuda/cuda_executor.h"
#include "test/support/generator.h"
#include "test/gpu/golden_case.h"
#include "test/gpu/gpu_test_util.h"

namespace bloom::gpu_test {
namespace {

class GoldenOnGpu : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(GoldenOnGpu, TokensAndLogitsMatchTransformers) {
  BLOOM_SKIP_WITHOUT_GPU();
  const auto &[name, bf16] = GetParam();
  const char *plans = std::getenv("BLOOM_GPU_PLANS");
  if (plans == nullptr)
    GTEST_SKIP() << "BLOOM_GPU_PLANS is not set (scripts/gpu/prepare.sh "
                    "compiles the plans)";
  const std::string plan_dir = std::string(plans) + "/" + name + (bf16 ? ".bf16" : "");
  if (!IsDirectory(plan_dir)) GTEST_SKIP() << "no compiled plan at " << plan_dir;
  absl::StatusOr<GoldenCase> golden = LoadGoldenCase(name);
  ASSERT_TRUE(golden.ok()) << golden.status();

  absl::StatusOr<LoadedPlan> plan = LoadedPlan::Load(plan_dir);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ExecutorOptions options;
  options.checkpoint_dir = golden->checkpoint_dir;
  absl::StatusOr<std::unique_ptr<CudaExecutor>> executor =
      CudaExecutor::Create(*std::move(plan), options);
  ASSERT_TRUE(executor.ok()) << executor.status();

  GenerationOptions generation;
  generation.max_new_tokens = static_cast<int32_t>(golden->tokens.size());
  generation.keep_all_logits = true;
  absl::StatusOr<GenerationResult> result = GenerateGreedy(**executor, golden->prompt, generation);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->tokens, golden->tokens) << name << ": greedy tokens differ from transformers'";
  absl::StatusOr<LogitErrors> errors = CompareLogits(result->logits, *golden);
  ASSERT_TRUE(errors.ok()) << errors.status();
  RecordProperty("max_abs_logit_error", std::to_string(errors->max_abs));
  RecordProperty("normalized_logit_error", std::to_string(errors->normalized));
  std::printf(
      "[golden] %s%s: max |gpu - transformers| = %.3g, normalised "
      "%.3g, decode graphs %d\n",
      name.c_str(), bf16 ? " (bf16 plan)" : "", errors->max_abs, errors->normalized,
      (*executor)->graphs_captured());
  if (bf16) {
    EXPECT_LE(errors->normalized, 3e-2) << name << ": bf16 logits too far from the fp32 goldens";
  } else {
    EXPECT_LE(errors->max_abs, 1e-3) << name << ": logits differ from transformers' beyond 1e-3";
  }
  EXPECT_GE((*executor)->graphs_captured(), 1)
      << "decode steps should have been captured as a graph";

  // The greedy fast path: the same tokens from argmax on the GPU, with
  // no logits copied back.
  absl::StatusOr<std::vector<int32_t>> fast =
      GreedyOnDevice(**executor, golden->prompt, golden->tokens.size());
  ASSERT_TRUE(fast.ok()) << fast.status();
  EXPECT_EQ(*fast, golden->tokens) << name << ": StepGreedy's tokens differ from transformers'";
}

INSTANTIATE_TEST_SUITE_P(
    Cases, GoldenOnGpu,
    ::testing::Combine(::testing::Values("f32-basic", "f16-heads6", "bf16-long-prompt",
                                         "sharded-bare-postln", "tiny-random-text"),
                       ::testing::Bool()),
    [](const auto &info) {
      std::string name = std::get<0>(info.param) + (std::get<1>(info.param) ? "_bf16" : "_fp32");
      for (char &c : name) {
        if (c == '-') c = '_';
      }
      return name;
    });

TEST(CudaExecutorErrors, NoGpuIsAnErrorNotACrash) {
  if (HasGpu()) GTEST_SKIP() << "a GPU is present; this checks the message without one";
  // Any plan will do; without a GPU, Create must fail before reading it.
  const char *plans = std::getenv("BLOOM_GPU_PLANS");
  if (plans == nullptr) GTEST_SKIP() << "BLOOM_GPU_PLANS is not set";
  absl::StatusOr<LoadedPlan> plan = LoadedPlan::Load(std::string(plans) + "/f32-basic");
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<std::unique_ptr<StepExecutor>> executor = CreateCudaExecutor(*std::move(plan), {});
  ASSERT_FALSE(executor.ok());
  EXPECT_EQ(executor.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(executor.status().message().find("no CUDA GPU"), std::string::npos)
      << executor.status();
}

}  // namespace
}  // namespace bloom::gpu_test
