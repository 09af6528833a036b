// bloom-run's flags: their declaration (what --help prints) and their
// parsing into a RunFlags, with every check that needs no plan: value
// ranges, conflicting inputs, flags that belong to another mode. A failure
// here is a usage error (exit code 2).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/serve/generation_defaults.h"
#include "tools/bloom-run/perplexity_flags.h"
#include "tools/common/command_line.h"

namespace bloom::run {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // loading or running failed
inline constexpr int kExitUsage = 2;    // the command line or its inputs are wrong

enum class Mode {
  kTokens,  // --tokens: ids in, ids out (the contract the parity tests use)
  kText,    // --prompt, --prompt-file or stdin: text in, streamed text out
  kBatch,   // --input=FILE.jsonl: many requests as one batch, JSONL out
  kBench,   // --bench: timing of random prompts
  kPerplexity,  // --perplexity=FILE: the text's perplexity (and KL divergence)
};

using serve::GenerationDefaults;

struct RunFlags {
  std::string plan_dir;
  Mode mode = Mode::kText;
  // Read by tools::ReadExecutionFlags, as bloom-serve reads them.
  std::string backend = "cpu";
  std::string cuda_collectives = "auto";  // --cuda-collectives: auto, nccl or host
  std::string checkpoint_dir;
  std::string tokenizer;  // --tokenizer, empty when not given

  std::string tokens;  // --tokens
  std::string prompt;  // --prompt
  bool prompt_given = false;
  std::string prompt_file;  // --prompt-file
  std::string input;        // --input
  std::string output;       // --output (empty: stdout)
  std::string dump_logits;
  bool truncate = false;
  bool echo = false;
  bool print_tokens = false;
  bool verbose = false;

  GenerationDefaults generation;

  int32_t batch = 1;
  int32_t prompt_len = 32;
  int32_t warmup = 1;
  int32_t max_steps_in_flight = 0;  // 0: the executor's

  PerplexityFlags perplexity;
};

// Every flag with its default and help text.
tools::CommandLine MakeCommandLine();

// Reads the parsed command line into RunFlags; InvalidArgument (one line,
// naming the flag) for a bad value or a combination that makes no sense.
absl::StatusOr<RunFlags> ReadRunFlags(const tools::CommandLine& cl);

}  // namespace bloom::run
