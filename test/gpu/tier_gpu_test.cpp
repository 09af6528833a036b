// Memory tiering on the CUDA backend: golden cases compiled with every
// weight unit forced to pinned host memory (bloom-compile --offload=host)
// stream their weights through the copy stream into the slot ring
// (runtime/cuda/device_weight_streamer.h). The streamed weights hold the
// same values as resident ones and the kernels are the same, so the logits
// must equal the all-resident plan's on the same GPU bit for bit, with the
// same greedy tokens (transformers'), decode steps still captured as CUDA
// graphs (copies and cross-stream waits inside them), and every unit's
// bytes counted as streamed each step. A plan with disk units is refused
// with one clear error (the CPU backend runs those).
//
// Plans: $BLOOM_GPU_PLANS/<case>[.bf16] (resident), <case>.host[.bf16] and
// <case>.disk (scripts/gpu/cuda_backend.sh prepare compiles them).
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/cuda_executor.h"
#include "runtime/exec/generator.h"
#include "test/gpu/golden_case.h"
#include "test/gpu/gpu_test_util.h"

namespace bloom::gpu_test {
namespace {

struct PlanRun {
  std::vector<int32_t> tokens;
  std::vector<float> logits;
  WeightStreamStats streamed;
  int graphs = 0;
};

absl::StatusOr<PlanRun> RunPlan(const std::string& plan_dir, const GoldenCase& golden) {
  absl::StatusOr<LoadedPlan> plan = LoadedPlan::Load(plan_dir);
  if (!plan.ok()) return plan.status();
  ExecutorOptions options;
  options.checkpoint_dir = golden.checkpoint_dir;
  absl::StatusOr<std::unique_ptr<CudaExecutor>> executor =
      CudaExecutor::Create(*std::move(plan), options);
  if (!executor.ok()) return executor.status();
  GenerationOptions generation;
  generation.max_new_tokens = static_cast<int32_t>(golden.tokens.size());
  generation.keep_all_logits = true;
  absl::StatusOr<GenerationResult> result = GenerateGreedy(**executor, golden.prompt, generation);
  if (!result.ok()) return result.status();
  return PlanRun{result->tokens, result->logits, (*executor)->weight_stream_totals(),
                 (*executor)->graphs_captured()};
}

class TieredOnGpu : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(TieredOnGpu, HostStreamedWeightsGiveTheResidentLogitsExactly) {
  BLOOM_SKIP_WITHOUT_GPU();
  const auto& [name, bf16] = GetParam();
  const char* plans = std::getenv("BLOOM_GPU_PLANS");
  if (plans == nullptr) GTEST_SKIP() << "BLOOM_GPU_PLANS is not set (cuda_backend.sh prepare)";
  const std::string suffix = bf16 ? ".bf16" : "";
  const std::string resident_dir = absl::StrCat(plans, "/", name, suffix);
  const std::string tiered_dir = absl::StrCat(plans, "/", name, ".host", suffix);
  if (!IsDirectory(resident_dir) || !IsDirectory(tiered_dir)) {
    GTEST_SKIP() << "no compiled plans at " << resident_dir << " and " << tiered_dir;
  }
  absl::StatusOr<GoldenCase> golden = LoadGoldenCase(name);
  ASSERT_TRUE(golden.ok()) << golden.status();

  absl::StatusOr<PlanRun> resident = RunPlan(resident_dir, *golden);
  ASSERT_TRUE(resident.ok()) << resident.status();
  absl::StatusOr<PlanRun> tiered = RunPlan(tiered_dir, *golden);
  ASSERT_TRUE(tiered.ok()) << tiered.status();

  EXPECT_EQ(resident->streamed.bytes, 0);
  EXPECT_GT(tiered->streamed.bytes, 0) << "the host plan streamed nothing";
  EXPECT_EQ(tiered->tokens, golden->tokens) << tiered_dir << ": tokens differ from transformers'";
  EXPECT_EQ(tiered->tokens, resident->tokens);
  ASSERT_EQ(tiered->logits.size(), resident->logits.size());
  size_t differing = 0;
  for (size_t i = 0; i < tiered->logits.size(); ++i) {
    differing += tiered->logits[i] != resident->logits[i];
  }
  EXPECT_EQ(differing, 0u) << tiered_dir << ": logits differ from the resident plan's";
  EXPECT_GE(tiered->graphs, 1) << "decode steps with streaming should be captured as a graph";
  std::printf(
      "[tier] %s: %lld bytes streamed in %lld unit copies (%.2f GB/s), %zu logits, %zu "
      "differ from resident, graphs %d\n",
      tiered_dir.c_str(), static_cast<long long>(tiered->streamed.bytes),
      static_cast<long long>(tiered->streamed.units),
      tiered->streamed.fill_seconds > 0
          ? tiered->streamed.bytes / tiered->streamed.fill_seconds / 1e9
          : 0.0,
      tiered->logits.size(), differing, tiered->graphs);
}

INSTANTIATE_TEST_SUITE_P(Cases, TieredOnGpu,
                         ::testing::Combine(::testing::Values("f32-basic", "bf16-long-prompt"),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           std::string name = std::get<0>(info.param) +
                                              (std::get<1>(info.param) ? "_bf16" : "_fp32");
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

TEST(TieredOnGpuErrors, DiskUnitsAreRefusedClearly) {
  BLOOM_SKIP_WITHOUT_GPU();
  const char* plans = std::getenv("BLOOM_GPU_PLANS");
  if (plans == nullptr) GTEST_SKIP() << "BLOOM_GPU_PLANS is not set";
  const std::string plan_dir = std::string(plans) + "/f32-basic.disk";
  if (!IsDirectory(plan_dir)) GTEST_SKIP() << "no compiled plan at " << plan_dir;
  absl::StatusOr<LoadedPlan> plan = LoadedPlan::Load(plan_dir);
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<std::unique_ptr<CudaExecutor>> executor =
      CudaExecutor::Create(*std::move(plan), {});
  ASSERT_FALSE(executor.ok());
  EXPECT_EQ(executor.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(executor.status().message().find("is on disk"), std::string::npos) << executor.status();
}

}  // namespace
}  // namespace bloom::gpu_test
