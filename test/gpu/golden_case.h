// What the GPU end-to-end tests share about a golden case of
// test/golden/cases (a checkpoint and transformers 5.17's fp32 forward):
// loading it, running it greedily on an executor (through Step() with every
// logit row kept, and through the StepGreedy fast path), and measuring the
// logits against transformers'.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/exec/executor.h"

namespace bloom::gpu_test {

// The repository (checkpoints, goldens): $BLOOM_REPO, else the source tree
// this was built from.
std::string Repo();
bool IsDirectory(const std::string &path);

struct GoldenCase {
  std::string name;
  std::string checkpoint_dir;
  std::vector<int32_t> prompt;
  std::vector<int32_t> tokens;  // transformers' greedy continuation
  std::vector<float> logits;    // [P + N - 1, vocab], transformers' fp32
};
absl::StatusOr<GoldenCase> LoadGoldenCase(const std::string &name);

// The greedy run's logits against the golden's, or an error when their
// sizes differ or a value is not finite.
struct LogitErrors {
  double max_abs = 0.0;
  double normalized = 0.0;
};
absl::StatusOr<LogitErrors> CompareLogits(const std::vector<float> &logits,
                                          const GoldenCase &golden);

// Greedy continuation of `prompt` through executor.StepGreedy, one step per
// prompt chunk (of at most max_batch_tokens) and per new token, as the
// scheduler's fused greedy path runs it; logits() must stay empty.
absl::StatusOr<std::vector<int32_t>> GreedyOnDevice(StepExecutor &executor,
                                                    const std::vector<int32_t> &prompt,
                                                    size_t count);

}  // namespace bloom::gpu_test
