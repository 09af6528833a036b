// bloom-run: executes a plan written by bloom-compile.
//
//   bloom-run PLAN_DIR --tokens=ID,ID,... --max-new-tokens=N [--dump-logits=FILE.npy]
//
// prints the generated token ids, space-separated, on one stdout line.
// Exit codes: 0 success, 1 a failure while loading or running, 2 a usage
// error (bad flag or argument). Every failure is one line on stderr.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "runtime/exec/cpu_executor.h"
#include "runtime/exec/generator.h"
#include "runtime/support/npy.h"
#include "runtime/support/status_macros.h"
#include "tools/common/command_line.h"

namespace bloom {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

using tools::CommandLine;

CommandLine MakeCommandLine() {
  CommandLine cl("bloom-run", "PLAN_DIR --tokens=ID,ID,... [flags]");
  cl.AddFlag("tokens", CommandLine::Kind::kString, "",
             "The prompt as comma-separated token ids, e.g. 1,2,3.");
  cl.AddFlag("max-new-tokens", CommandLine::Kind::kInt, "16",
             "Number of tokens to generate (greedy). Generation does not stop at the "
             "end-of-sequence token in this mode, so exactly N are printed.");
  cl.AddFlag("dump-logits", CommandLine::Kind::kString, "",
             "Write a float32 .npy of shape [P + N - 1, vocab]: the logits of every prompt "
             "position, then one row per decode step (row i predicts token i + 1).");
  cl.AddFlag("checkpoint-dir", CommandLine::Kind::kString, "",
             "Read weights from this directory instead of the one recorded in the plan.");
  return cl;
}

// Parses "1,2,3" into ids in [0, vocab).
absl::StatusOr<std::vector<int32_t>> ParseTokens(const std::string& text, int64_t vocab) {
  std::vector<int32_t> ids;
  if (text.empty()) return absl::InvalidArgumentError("--tokens: no prompt given");
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t id;
    if (!absl::SimpleAtoi(part, &id)) {
      return absl::InvalidArgumentError(absl::StrCat("--tokens: '", part, "' at index ", ids.size(),
                                                     " is not an integer"));
    }
    if (id < 0 || id >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat("--tokens: token id ", id, " at index ",
                                                     ids.size(), " is outside the vocabulary [0, ",
                                                     vocab, ")"));
    }
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

int Fail(int code, const absl::Status& status) {
  std::fprintf(stderr, "bloom-run: %s\n", std::string(status.message()).c_str());
  return code;
}

int Run(int argc, char** argv) {
  CommandLine cl = MakeCommandLine();
  if (absl::Status s = cl.Parse(argc, argv); !s.ok()) return Fail(kExitUsage, s);
  if (cl.help_requested()) {
    std::fputs(cl.HelpText().c_str(), stdout);
    return 0;
  }
  if (cl.positional().size() != 1) {
    return Fail(kExitUsage, absl::InvalidArgumentError(
                                "expected exactly one PLAN_DIR argument (see --help)"));
  }
  const int64_t max_new_tokens = cl.GetInt("max-new-tokens");
  if (max_new_tokens < 1 || max_new_tokens > (1 << 24)) {
    return Fail(kExitUsage, absl::InvalidArgumentError("--max-new-tokens must be at least 1"));
  }
  if (!cl.Has("tokens")) {
    return Fail(kExitUsage, absl::InvalidArgumentError("--tokens is required (see --help)"));
  }

  absl::StatusOr<LoadedPlan> plan = LoadedPlan::Load(cl.positional()[0]);
  if (!plan.ok()) return Fail(kExitFailure, plan.status());
  ExecutorOptions options;
  options.checkpoint_dir = cl.GetString("checkpoint-dir");
  absl::StatusOr<std::unique_ptr<CpuExecutor>> executor =
      CpuExecutor::Create(*std::move(plan), options);
  if (!executor.ok()) return Fail(kExitFailure, executor.status());

  absl::StatusOr<std::vector<int32_t>> prompt =
      ParseTokens(cl.GetString("tokens"), (*executor)->vocab_size());
  if (!prompt.ok()) return Fail(kExitUsage, prompt.status());

  GenerationOptions generation;
  generation.max_new_tokens = static_cast<int32_t>(max_new_tokens);
  generation.keep_all_logits = cl.Has("dump-logits");
  absl::StatusOr<GenerationResult> result = GenerateGreedy(**executor, *prompt, generation);
  if (!result.ok()) return Fail(kExitFailure, result.status());

  std::printf("%s\n", absl::StrJoin(result->tokens, " ").c_str());
  std::fflush(stdout);
  if (cl.Has("dump-logits")) {
    const int64_t shape[] = {result->logit_rows, (*executor)->vocab_size()};
    if (absl::Status s = WriteNpyFloat32(cl.GetString("dump-logits"), shape, result->logits); !s.ok()) {
      return Fail(kExitFailure, s);
    }
  }
  return 0;
}

}  // namespace
}  // namespace bloom

int main(int argc, char** argv) { return bloom::Run(argc, argv); }
