// bloom-run's --perplexity flags (docs/cli.md, "Perplexity"): their
// declaration and the checks that need no plan. The checks that do (--ctx
// against max_seq_len, the default --ctx) are in perplexity.cpp.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "tools/common/command_line.h"

namespace bloom::run {

struct PerplexityFlags {
  std::string file;         // --perplexity: the text to score
  int32_t ctx = 0;          // --ctx; 0: min(512, the plan's max_seq_len)
  int32_t stride = 0;       // --stride; 0: halves
  int64_t chunks = 0;       // --chunks: only the first N windows; 0: all
  std::string kl_base_out;  // --kl-divergence-base: write this run's base file
  std::string kl_base_in;   // --kl-divergence: compare this run with a base file
};

void AddPerplexityFlags(tools::CommandLine& cl);

// Reads the flags above into `out`. Usage errors (InvalidArgument naming the
// flag): any of them without --perplexity, both KL flags, empty paths, a
// --ctx or --stride out of range, a generation or sampling flag with
// --perplexity (it generates nothing).
absl::Status ReadPerplexityFlags(const tools::CommandLine& cl, bool perplexity_mode,
                                 PerplexityFlags& out);

}  // namespace bloom::run
