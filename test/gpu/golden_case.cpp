#include "test/gpu/golden_case.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "runtime/support/npy.h"
#include "runtime/support/status_macros.h"
#include "test/gpu/gpu_test_util.h"

namespace bloom::gpu_test {

std::string Repo() {
  const char *repo = std::getenv("BLOOM_REPO");
  return repo != nullptr ? repo : BLOOM_SOURCE_DIR;
}

bool IsDirectory(const std::string &path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

absl::StatusOr<GoldenCase> LoadGoldenCase(const std::string &name) {
  const std::string case_dir = Repo() + "/test/golden/cases/" + name;
  std::ifstream file(case_dir + "/golden.json");
  if (!file) return absl::NotFoundError(absl::StrCat(case_dir, "/golden.json: cannot open"));
  const nlohmann::json golden = nlohmann::json::parse(file);
  GoldenCase c;
  c.name = name;
  c.checkpoint_dir = golden.contains("checkpoint_dir")
                         ? Repo() + "/" + golden["checkpoint_dir"].get<std::string>()
                         : case_dir;
  c.prompt = golden["prompt_tokens"].get<std::vector<int32_t>>();
  c.tokens = golden["generated_tokens"].get<std::vector<int32_t>>();
  BLOOM_ASSIGN_OR_RETURN(NpyArray logits,
                         ReadNpyFloat32(case_dir + "/" + golden["logits_file"].get<std::string>()));
  c.logits = std::move(logits.data);
  return c;
}

absl::StatusOr<LogitErrors> CompareLogits(const std::vector<float> &logits,
                                          const GoldenCase &golden) {
  if (logits.size() != golden.logits.size()) {
    return absl::FailedPreconditionError(absl::StrCat(
        golden.name, ": ", logits.size(), " logits against the golden's ", golden.logits.size()));
  }
  if (!AllFinite(logits)) return absl::DataLossError(absl::StrCat(golden.name, ": NaN or Inf"));
  LogitErrors errors;
  for (size_t i = 0; i < logits.size(); ++i) {
    errors.max_abs =
        std::max(errors.max_abs, std::fabs(static_cast<double>(logits[i]) - golden.logits[i]));
  }
  errors.normalized = NormalizedError(logits, golden.logits);
  return errors;
}

absl::StatusOr<std::vector<int32_t>> GreedyOnDevice(StepExecutor &executor,
                                                    const std::vector<int32_t> &prompt,
                                                    size_t count) {
  KvCache &cache = executor.kv_cache();
  BLOOM_ASSIGN_OR_RETURN(const int32_t slot, cache.AddSequence());
  std::vector<int32_t> tokens;
  auto step = [&](const StepBatch &batch) -> absl::Status {
    BLOOM_ASSIGN_OR_RETURN(absl::Span<const int32_t> next, executor.StepGreedy(batch));
    if (!executor.logits().empty()) {
      return absl::InternalError("StepGreedy left logits on the host");
    }
    tokens.push_back(next[0]);
    return absl::OkStatus();
  };
  const size_t chunk = executor.plan().limits()->max_batch_tokens();
  for (size_t begin = 0; begin < prompt.size();) {
    const size_t n = std::min(prompt.size() - begin, chunk);
    BLOOM_RETURN_IF_ERROR(cache.Reserve(slot, static_cast<int32_t>(begin + n)));
    std::vector<int32_t> positions(n), slots(n, slot);
    for (size_t i = 0; i < n; ++i) positions[i] = static_cast<int32_t>(begin + i);
    const int32_t last = static_cast<int32_t>(n - 1);
    tokens.clear();  // only the last chunk's token is the continuation's first
    BLOOM_RETURN_IF_ERROR(step({absl::MakeConstSpan(prompt).subspan(begin, n), positions, slots,
                                absl::MakeConstSpan(&last, 1)}));
    begin += n;
  }
  int32_t position = static_cast<int32_t>(prompt.size());
  const int32_t zero = 0;
  while (tokens.size() < count) {
    BLOOM_RETURN_IF_ERROR(cache.Reserve(slot, position + 1));
    const int32_t token = tokens.back();
    BLOOM_RETURN_IF_ERROR(step({absl::MakeConstSpan(&token, 1), absl::MakeConstSpan(&position, 1),
                                absl::MakeConstSpan(&slot, 1), absl::MakeConstSpan(&zero, 1)}));
    ++position;
  }
  cache.RemoveSequence(slot);
  tokens.resize(count);
  return tokens;
}

}  // namespace bloom::gpu_test
