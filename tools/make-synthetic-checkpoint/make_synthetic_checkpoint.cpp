// make-synthetic-checkpoint: writes a BLOOM checkpoint of random weights at
// the shapes of a config.json, for benchmarks at real shapes.
//
//   make-synthetic-checkpoint --config=models/bloom/presets/bloom-7b1.json \
//       -o /tmp/bloom-7b1-synthetic [--dtype=bf16] [--seed=0]
//       [--max-shard-bytes=0] [--threads=0] [--layout-only]
//
// prints one JSON line on stdout: what was written and how fast. Exit codes:
// 0 success, 1 a failure while writing, 2 a usage error. Every failure is
// one line on stderr.
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tools/common/command_line.h"
#include "tools/make-synthetic-checkpoint/synthetic_checkpoint.h"

namespace bloom::tools {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

CommandLine MakeCommandLine() {
  CommandLine cl("make-synthetic-checkpoint", "--config=CONFIG.json -o OUT_DIR [flags]");
  cl.AddFlag("config", CommandLine::Kind::kString, "",
             "A BLOOM config.json (e.g. models/bloom/presets/bloom-7b1.json) whose shapes the "
             "weights take.");
  cl.AddFlag("o", CommandLine::Kind::kString, "",
             "Checkpoint directory to write (created if needed; files of the same names are "
             "replaced).");
  cl.AddFlag("dtype", CommandLine::Kind::kString, "bf16", "Stored precision: bf16, f16 or f32.");
  cl.AddFlag("seed", CommandLine::Kind::kInt, "0",
             "Random seed; the same seed and config give the same bytes on any machine and "
             "thread count.");
  cl.AddFlag("max-shard-bytes", CommandLine::Kind::kInt, "0",
             "0: one model.safetensors. Otherwise shards of at most this many data bytes "
             "(model-0000i-of-0000n.safetensors) and model.safetensors.index.json.");
  cl.AddFlag("threads", CommandLine::Kind::kInt, "0",
             "Generating threads (0: one per hardware thread).");
  cl.AddFlag("layout-only", CommandLine::Kind::kBool, "false",
             "Write headers and sizes only: data sections are sparse holes, and the headers "
             "record the seed, from which bloom-run and bloom-compile make the values a full "
             "write stores as they read them (no disk, any model size). Same names, shapes "
             "and offsets as a full write. transformers reads zeros from it.");
  return cl;
}

int Fail(int code, const absl::Status& status) {
  std::fprintf(stderr, "make-synthetic-checkpoint: %s\n", std::string(status.message()).c_str());
  return code;
}

int Run(int argc, char** argv) {
  CommandLine cl = MakeCommandLine();
  // "-o DIR" is spelled with one dash, as bloom-compile spells it.
  std::vector<std::string> args(argv, argv + argc);
  for (std::string& arg : args) {
    if (arg == "-o") arg = "--o";
    else if (arg.rfind("-o=", 0) == 0) arg = "-" + arg;
  }
  std::vector<char*> arg_ptrs;
  for (std::string& arg : args) arg_ptrs.push_back(arg.data());
  if (absl::Status s = cl.Parse(static_cast<int>(arg_ptrs.size()), arg_ptrs.data()); !s.ok()) {
    return Fail(kExitUsage, s);
  }
  if (cl.help_requested()) {
    std::fputs(cl.HelpText().c_str(), stdout);
    return 0;
  }
  if (!cl.positional().empty()) {
    return Fail(kExitUsage, absl::InvalidArgumentError(absl::StrCat(
                                "unexpected argument '", cl.positional().front(), "' (see --help)")));
  }
  if (cl.GetString("config").empty()) {
    return Fail(kExitUsage, absl::InvalidArgumentError("--config=CONFIG.json is required"));
  }
  if (cl.GetString("o").empty()) {
    return Fail(kExitUsage, absl::InvalidArgumentError("-o OUT_DIR is required"));
  }
  SyntheticCheckpointOptions options;
  const std::string dtype = cl.GetString("dtype");
  if (dtype == "bf16") {
    options.dtype = DType::kBF16;
  } else if (dtype == "f16") {
    options.dtype = DType::kF16;
  } else if (dtype == "f32") {
    options.dtype = DType::kF32;
  } else {
    return Fail(kExitUsage, absl::InvalidArgumentError(absl::StrCat(
                                "--dtype: '", dtype, "' is not one of bf16, f16, f32")));
  }
  if (cl.GetInt("seed") < 0) {
    return Fail(kExitUsage, absl::InvalidArgumentError("--seed must be >= 0"));
  }
  options.seed = static_cast<uint64_t>(cl.GetInt("seed"));
  options.max_shard_bytes = cl.GetInt("max-shard-bytes");
  if (options.max_shard_bytes < 0) {
    return Fail(kExitUsage, absl::InvalidArgumentError("--max-shard-bytes must be >= 0"));
  }
  const int64_t threads = cl.GetInt("threads");
  if (threads < 0 || threads > 4096) {
    return Fail(kExitUsage, absl::InvalidArgumentError("--threads must be in [0, 4096]"));
  }
  options.threads = static_cast<int>(threads);
  options.layout_only = cl.GetBool("layout-only");

  absl::StatusOr<SyntheticCheckpointSummary> summary =
      WriteSyntheticCheckpoint(cl.GetString("config"), cl.GetString("o"), options);
  if (!summary.ok()) return Fail(kExitFailure, summary.status());
  const double gb = static_cast<double>(summary->data_bytes) / 1e9;
  std::printf(
      "{\"tool\": \"make-synthetic-checkpoint\", \"dir\": \"%s\", \"dtype\": \"%s\", "
      "\"layout_only\": %s, \"tensors\": %lld, \"parameters\": %lld, \"data_bytes\": %llu, "
      "\"files\": %d, \"seconds\": %.3f, \"gb_per_s\": %.2f}\n",
      cl.GetString("o").c_str(), dtype.c_str(), options.layout_only ? "true" : "false",
      static_cast<long long>(summary->tensors), static_cast<long long>(summary->parameters),
      static_cast<unsigned long long>(summary->data_bytes), summary->files, summary->seconds,
      summary->seconds > 0 ? gb / summary->seconds : 0.0);
  return 0;
}

}  // namespace
}  // namespace bloom::tools

int main(int argc, char** argv) { return bloom::tools::Run(argc, argv); }
