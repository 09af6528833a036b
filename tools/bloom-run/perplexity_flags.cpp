#include "tools/bloom-run/perplexity_flags.h"

#include "absl/strings/str_cat.h"
#include "runtime/serve/perplexity_windows.h"

namespace bloom::run {

using tools::CommandLine;
using tools::FlagError;

void AddPerplexityFlags(CommandLine& cl) {
  cl.AddSection("Perplexity (llama.cpp's llama-perplexity method)");
  cl.AddFlag("perplexity", CommandLine::Kind::kString, "",
             "Score this text file: its tokens cut into windows of --ctx tokens, each scored on "
             "its second half (or its last --stride predictions). PPL with its standard error as "
             "one JSON object on stdout, progress on stderr.");
  cl.AddFlag("ctx", CommandLine::Kind::kInt, "0",
             "--perplexity: tokens per window (0: min(512, the plan's max_seq_len)); at most "
             "max_seq_len.");
  cl.AddFlag("stride", CommandLine::Kind::kInt, "0",
             "--perplexity: windows start every S tokens and each scores its last S predictions, "
             "1 <= S <= --ctx - 1 (0: back-to-back windows scored on their second half).");
  cl.AddFlag("chunks", CommandLine::Kind::kInt, "0",
             "--perplexity: score only the first N windows (0: all), as llama-perplexity's "
             "--chunks.");
  cl.AddFlag("kl-divergence-base", CommandLine::Kind::kString, "",
             "--perplexity: also write each scored token's top-32 log-probabilities (and the "
             "rest of the mass) to this file, the base for a later --kl-divergence run.");
  cl.AddFlag("kl-divergence", CommandLine::Kind::kString, "",
             "--perplexity: compare this run with a base file (same text, --ctx and --stride): "
             "KL divergence mean, median, percentiles, top-1 agreement and PPL difference.");
}

absl::Status ReadPerplexityFlags(const CommandLine& cl, bool perplexity_mode,
                                 PerplexityFlags& out) {
  for (const char* flag : {"ctx", "stride", "chunks", "kl-divergence-base", "kl-divergence"}) {
    if (cl.Has(flag) && !perplexity_mode) return FlagError(flag, "only applies with --perplexity");
  }
  if (!perplexity_mode) return absl::OkStatus();
  // --perplexity scores given text and generates nothing.
  for (const char* flag :
       {"max-new-tokens", "min-new-tokens", "ignore-eos", "truncate", "do-sample", "temperature",
        "top-k", "top-p", "typical-p", "repetition-penalty", "seed"}) {
    if (cl.Has(flag))
      return FlagError(flag, "does not apply to --perplexity (it generates nothing)");
  }
  out.file = cl.GetString("perplexity");
  if (out.file.empty()) return FlagError("perplexity", "the file name is empty");
  const int64_t ctx = cl.GetInt("ctx"), stride = cl.GetInt("stride");
  // 0 is each flag's default, also when given.
  if (ctx != 0 && (ctx < 2 || ctx > (1 << 24))) {
    return FlagError("ctx", "must be at least 2 (tokens per window), or 0 for the default");
  }
  if (stride < 0 || stride > (1 << 24)) {
    return FlagError("stride", "must be at least 1 (and at most --ctx - 1), or 0 for halves");
  }
  if (cl.GetInt("chunks") < 0) return FlagError("chunks", "must be at least 1, or 0 for all");
  out.chunks = cl.GetInt("chunks");
  out.ctx = static_cast<int32_t>(ctx);
  out.stride = static_cast<int32_t>(stride);
  if (out.ctx > 0) {
    if (absl::Status s = serve::CheckWindowShape(out.ctx, out.stride); !s.ok()) return s;
  }
  out.kl_base_out = cl.GetString("kl-divergence-base");
  out.kl_base_in = cl.GetString("kl-divergence");
  if (cl.Has("kl-divergence-base") && cl.Has("kl-divergence")) {
    return absl::InvalidArgumentError(
        "--kl-divergence-base and --kl-divergence cannot be used together: write the base in "
        "one run, compare with it in another");
  }
  if (cl.Has("kl-divergence-base") && out.kl_base_out.empty()) {
    return FlagError("kl-divergence-base", "the file name is empty");
  }
  if (cl.Has("kl-divergence") && out.kl_base_in.empty()) {
    return FlagError("kl-divergence", "the file name is empty");
  }
  return absl::OkStatus();
}

}  // namespace bloom::run
