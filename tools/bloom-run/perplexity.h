// --perplexity=FILE: llama.cpp's llama-perplexity on any plan, backend and
// dtype (docs/cli.md, "Perplexity"). The text's tokens are cut into windows
// (runtime/serve/perplexity_windows.h); the windows run as requests of the
// closed-batch Scheduler with keep_all_logits, several at a time (up to the
// plan's max_sequences and a bound on the logits kept), so tensor-parallel
// and CUDA plans need nothing of their own. Each batch's rows are scored and
// dropped before the next batch runs.
//
// With --kl-divergence-base=FILE the run also writes each scored row's
// top-K log-probabilities (runtime/serve/kl_base_file.h); with
// --kl-divergence=FILE it compares its rows with such a file's and reports
// llama.cpp's KL-divergence statistics (runtime/serve/score_statistics.h).
#pragma once

#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/plan/plan_generated.h"
#include "runtime/serve/executor_factory.h"
#include "runtime/serve/kl_base_file.h"
#include "runtime/serve/perplexity_windows.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tools/bloom-run/run_flags.h"

namespace bloom::run {

// The top-K kept per scored token by --kl-divergence-base.
inline constexpr int32_t kKlBaseTopK = 32;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

// Everything about a run that is known before the weights load.
struct PerplexityJob {
  std::vector<int32_t> tokens;
  std::vector<serve::PerplexityWindow> windows;
  serve::KlBaseHeader header;         // this run's settings, as a base file would record them
  std::optional<serve::KlBase> base;  // --kl-divergence
  std::unique_ptr<std::FILE, FileCloser> base_out;  // --kl-divergence-base, opened
};

// Tokenizes the text, fixes --ctx against the plan, lays out the windows,
// reads and checks the --kl-divergence base or opens the
// --kl-divergence-base file. Every error is a usage error (one line).
absl::StatusOr<PerplexityJob> PreparePerplexity(const plan::Plan& plan, int64_t vocab,
                                                const Tokenizer& tokenizer, const RunFlags& flags);

// Runs the windows and prints the results (JSON on stdout, progress and a
// summary on stderr).
absl::Status RunPerplexity(const serve::Backend& backend, PerplexityJob& job,
                           const RunFlags& flags);

}  // namespace bloom::run
