#include "tools/common/execution_flags.h"

#include "absl/strings/str_cat.h"

namespace bloom::tools {

void AddExecutionFlags(CommandLine& cl) {
  cl.AddSection("Execution");
  cl.AddFlag("backend", CommandLine::Kind::kString, "cpu",
             absl::StrCat("cpu (the fp32 reference) or cuda (when this ", cl.program(),
                          " was built with CUDA)."));
  cl.AddFlag("checkpoint-dir", CommandLine::Kind::kString, "",
             "Read weights (and look for tokenizer.json) here instead of the directory "
             "recorded in the plan.");
  cl.AddFlag("cuda-collectives", CommandLine::Kind::kString, "auto",
             "With --backend=cuda, how tensor-parallel ranks exchange activations: auto (NCCL "
             "when every rank has a GPU of its own, else through host memory), nccl, or host "
             "(slow, no CUDA graphs; ranks may share a GPU).");
}

void AddTokenizerFlag(CommandLine& cl) {
  cl.AddFlag("tokenizer", CommandLine::Kind::kString, "",
             "tokenizer.json (or a directory holding it) for text. Default: PLAN_DIR/"
             "tokenizer.json, else tokenizer.json in the plan's checkpoint directory.");
}

absl::StatusOr<std::string> ReadPlanDir(const CommandLine& cl) {
  if (cl.positional().size() != 1) {
    return absl::InvalidArgumentError(cl.positional().empty()
                                          ? "expected a PLAN_DIR argument (see --help)"
                                          : absl::StrCat("expected one PLAN_DIR argument, got ",
                                                         cl.positional().size(), " (see --help)"));
  }
  return cl.positional()[0];
}

absl::StatusOr<ExecutionFlags> ReadExecutionFlags(const CommandLine& cl) {
  ExecutionFlags f;
  f.backend = cl.GetString("backend");
  if (f.backend != "cpu" && f.backend != "cuda") {
    return FlagError("backend", absl::StrCat("'", f.backend, "' is not cpu or cuda"));
  }
  f.cuda_collectives = cl.GetString("cuda-collectives");
  if (f.cuda_collectives != "auto" && f.cuda_collectives != "nccl" &&
      f.cuda_collectives != "host") {
    return FlagError("cuda-collectives",
                     absl::StrCat("'", f.cuda_collectives, "' is not auto, nccl or host"));
  }
  f.checkpoint_dir = cl.GetString("checkpoint-dir");
  f.tokenizer = cl.GetString("tokenizer");
  return f;
}

absl::Status CheckCudaOnlyFlags(const CommandLine& cl, const ExecutionFlags& flags) {
  if (cl.Has("cuda-collectives") && flags.backend != "cuda") {
    return FlagError("cuda-collectives", "only applies with --backend=cuda");
  }
  return absl::OkStatus();
}

}  // namespace bloom::tools
