// Tensor-parallel plans on the CUDA backend: the golden cases compiled with
// --tp=N run as a RankGroup of CudaExecutors (runtime/cuda/
// cuda_rank_executor.h) and must give transformers' greedy tokens and
// logits, exactly as the tp=1 plans do in golden_gpu_test.cpp (fp32: every
// logit within 1e-3 of transformers'; bf16: normalised error within 3e-2),
// through the group's Step() (logits all-gathered over the ranks' vocab
// shards) and through its greedy fast path (argmax on the leader's GPU).
//
// On a machine with fewer GPUs than ranks (the one-GPU machine), the ranks
// share the GPU and their collectives are host-staged (NCCL refuses two
// ranks on one device); with a GPU per rank they go through NCCL. Either
// way the slicing, the vocab-parallel embedding and LM head, the
// all-reduce's float32 sum and the all-gather's column placement are the
// CUDA executor's own code.
//
// Plans: $BLOOM_GPU_PLANS/<case>.tp<N>[.bf16] (scripts/gpu/cuda_backend.sh
// prepare compiles them).
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/cuda_executor.h"
#include "runtime/cuda/cuda_rank_executor.h"
#include "test/support/generator.h"
#include "test/gpu/golden_case.h"
#include "test/gpu/gpu_test_util.h"

namespace bloom::gpu_test {
namespace {

struct TpCase {
  std::string name;
  int tp;
  bool bf16;
};

class TensorParallelOnGpu : public ::testing::TestWithParam<TpCase> {};

TEST_P(TensorParallelOnGpu, TokensAndLogitsMatchTransformers) {
  BLOOM_SKIP_WITHOUT_GPU();
  const TpCase &c = GetParam();
  const char *plans = std::getenv("BLOOM_GPU_PLANS");
  if (plans == nullptr) GTEST_SKIP() << "BLOOM_GPU_PLANS is not set (cuda_backend.sh prepare)";
  const std::string plan_dir = absl::StrCat(plans, "/", c.name, ".tp", c.tp, c.bf16 ? ".bf16" : "");
  if (!IsDirectory(plan_dir)) GTEST_SKIP() << "no compiled plan at " << plan_dir;
  absl::StatusOr<GoldenCase> golden = LoadGoldenCase(c.name);
  ASSERT_TRUE(golden.ok()) << golden.status();

  RankGroupOptions options;
  options.executor.checkpoint_dir = golden->checkpoint_dir;
  options.make_executor = CudaRankExecutors();
  options.collective_timeout = absl::Seconds(60);
  absl::StatusOr<std::unique_ptr<RankGroup>> group = RankGroup::CreateThreaded(plan_dir, options);
  ASSERT_TRUE(group.ok()) << group.status();
  ASSERT_EQ((*group)->tp_size(), c.tp);

  GenerationOptions generation;
  generation.max_new_tokens = static_cast<int32_t>(golden->tokens.size());
  generation.keep_all_logits = true;
  absl::StatusOr<GenerationResult> result = GenerateGreedy(**group, golden->prompt, generation);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->tokens, golden->tokens)
      << plan_dir << ": greedy tokens differ from transformers'";
  absl::StatusOr<LogitErrors> errors = CompareLogits(result->logits, *golden);
  ASSERT_TRUE(errors.ok()) << errors.status();
  std::printf("[tp] %s: %s, max |gpu - transformers| = %.3g, normalised %.3g\n", plan_dir.c_str(),
              (*group)->device_name().c_str(), errors->max_abs, errors->normalized);
  if (c.bf16) {
    EXPECT_LE(errors->normalized, 3e-2)
        << plan_dir << ": bf16 logits too far from the fp32 goldens";
  } else {
    EXPECT_LE(errors->max_abs, 1e-3)
        << plan_dir << ": logits differ from transformers' beyond 1e-3";
  }
  ASSERT_TRUE((*group)->has_greedy_step());
  absl::StatusOr<std::vector<int32_t>> fast =
      GreedyOnDevice(**group, golden->prompt, golden->tokens.size());
  ASSERT_TRUE(fast.ok()) << fast.status();
  EXPECT_EQ(*fast, golden->tokens)
      << plan_dir << ": the group's StepGreedy tokens differ from transformers'";
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TensorParallelOnGpu,
    ::testing::Values(TpCase{"f16-heads6", 2, false}, TpCase{"f16-heads6", 3, false},
                      TpCase{"f16-heads6", 3, true}, TpCase{"f32-basic", 2, false},
                      TpCase{"bf16-long-prompt", 4, false}, TpCase{"bf16-long-prompt", 4, true}),
    [](const auto &info) {
      std::string name =
          absl::StrCat(info.param.name, "_tp", info.param.tp, info.param.bf16 ? "_bf16" : "_fp32");
      for (char &ch : name) {
        if (ch == '-') ch = '_';
      }
      return name;
    });

// A tp=N plan handed to a lone CudaExecutor (not its rank group) is a
// clear error, not a wrong answer.
TEST(TensorParallelOnGpuErrors, LoneRankIsRefused) {
  BLOOM_SKIP_WITHOUT_GPU();
  const char *plans = std::getenv("BLOOM_GPU_PLANS");
  if (plans == nullptr) GTEST_SKIP() << "BLOOM_GPU_PLANS is not set";
  const std::string plan_dir = std::string(plans) + "/f16-heads6.tp2";
  if (!IsDirectory(plan_dir)) GTEST_SKIP() << "no compiled plan at " << plan_dir;
  absl::StatusOr<LoadedPlan> plan = LoadedPlan::Load(plan_dir, 1);
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<std::unique_ptr<CudaExecutor>> executor =
      CudaExecutor::Create(*std::move(plan), {});
  ASSERT_FALSE(executor.ok());
  EXPECT_EQ(executor.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(executor.status().message().find("rank group"), std::string::npos) << executor.status();
}

}  // namespace
}  // namespace bloom::gpu_test
