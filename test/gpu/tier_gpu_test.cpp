// Memory tiering on the CUDA backend: golden cases compiled with every
// weight unit forced to pinned host memory (bloom-compile --offload=host) or
// to disk (--offload=disk: the plan directory's weight_units.bin, read on the
// copy stream) stream their weights into the slot ring
// (runtime/cuda/device_weight_streamer.h). The streamed weights hold the
// same values as resident ones and the kernels are the same, so the logits
// must equal the all-resident plan's on the same GPU bit for bit, with the
// same greedy tokens (transformers'), decode steps still captured as CUDA
// graphs (copies and cross-stream waits inside them), and every unit's
// bytes counted as streamed each step. A disk plan whose units file was cut
// short fails at load with one error naming the file.
//
// Plans: $BLOOM_GPU_PLANS/<case>[.bf16] (resident), <case>.host[.bf16] and
// <case>.disk[.bf16] (scripts/gpu/cuda_backend.sh prepare compiles them).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/cuda_executor.h"
#include "test/support/generator.h"
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

class TieredOnGpu : public ::testing::TestWithParam<std::tuple<std::string, bool, std::string>> {};

TEST_P(TieredOnGpu, StreamedWeightsGiveTheResidentLogitsExactly) {
  BLOOM_SKIP_WITHOUT_GPU();
  const auto& [name, bf16, tier] = GetParam();
  const char* plans = std::getenv("BLOOM_GPU_PLANS");
  if (plans == nullptr) GTEST_SKIP() << "BLOOM_GPU_PLANS is not set (cuda_backend.sh prepare)";
  const std::string suffix = bf16 ? ".bf16" : "";
  const std::string resident_dir = absl::StrCat(plans, "/", name, suffix);
  const std::string tiered_dir = absl::StrCat(plans, "/", name, ".", tier, suffix);
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
  EXPECT_GT(tiered->streamed.bytes, 0) << tiered_dir << " streamed nothing";
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
                                            ::testing::Bool(), ::testing::Values("host", "disk")),
                         [](const auto& info) {
                           std::string name = std::get<0>(info.param) +
                                              (std::get<1>(info.param) ? "_bf16_" : "_fp32_") +
                                              std::get<2>(info.param);
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

TEST(TieredOnGpuErrors, ShortUnitsFileFailsAtLoadNamingIt) {
  BLOOM_SKIP_WITHOUT_GPU();
  const char* plans = std::getenv("BLOOM_GPU_PLANS");
  if (plans == nullptr) GTEST_SKIP() << "BLOOM_GPU_PLANS is not set";
  const std::string source = std::string(plans) + "/f32-basic.disk";
  if (!IsDirectory(source)) GTEST_SKIP() << "no compiled plan at " << source;
  // A copy of the plan directory whose units file lost its last 4096 bytes.
  const std::string copy = testing::TempDir() + "/tier-short-units";
  ASSERT_EQ(
      std::system(absl::StrCat("rm -rf '", copy, "' && cp -r '", source, "' '", copy, "'").c_str()),
      0);
  const std::string units = copy + "/weight_units.bin";
  struct stat info {};
  ASSERT_EQ(stat(units.c_str(), &info), 0) << units;
  ASSERT_EQ(truncate(units.c_str(), info.st_size - 4096), 0);
  absl::StatusOr<LoadedPlan> plan = LoadedPlan::Load(copy);
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<GoldenCase> golden = LoadGoldenCase("f32-basic");
  ASSERT_TRUE(golden.ok()) << golden.status();
  ExecutorOptions options;
  options.checkpoint_dir = golden->checkpoint_dir;
  absl::StatusOr<std::unique_ptr<CudaExecutor>> executor =
      CudaExecutor::Create(*std::move(plan), options);
  ASSERT_FALSE(executor.ok());
  EXPECT_EQ(executor.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(executor.status().message().find(units), std::string::npos) << executor.status();
}

}  // namespace
}  // namespace bloom::gpu_test
