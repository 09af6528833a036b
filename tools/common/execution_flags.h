// The flags that say how a plan directory is executed, shared by the tools
// that run plans (bloom-run, bloom-serve) so that they spell, document and
// check them alike: the plan directory itself, --backend, --checkpoint-dir,
// --cuda-collectives and --tokenizer. Values stay strings here; the tools
// hand them to runtime/serve's CreateBackend (BackendChoices), which this
// library does not depend on.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tools/common/command_line.h"

namespace bloom::tools {

struct ExecutionFlags {
  std::string backend = "cpu";            // cpu or cuda
  std::string cuda_collectives = "auto";  // auto, nccl or host
  std::string checkpoint_dir;             // empty: the plan's own
  std::string tokenizer;                  // empty: looked for beside the plan
};

// Starts an "Execution" section of --help with --backend, --checkpoint-dir
// and --cuda-collectives (the help names cl's program).
void AddExecutionFlags(CommandLine& cl);

// Declares --tokenizer. Apart from AddExecutionFlags because a tool may
// list it with its inputs rather than under Execution.
void AddTokenizerFlag(CommandLine& cl);

// The one PLAN_DIR positional argument; a usage error naming what is wrong
// when there is none or more than one.
absl::StatusOr<std::string> ReadPlanDir(const CommandLine& cl);

// Reads the flags declared above, checking that --backend and
// --cuda-collectives name values that exist (InvalidArgument naming the
// flag).
absl::StatusOr<ExecutionFlags> ReadExecutionFlags(const CommandLine& cl);

// A flag only the CUDA backend reads (--cuda-collectives) given with
// another backend is a usage error, as a flag of another mode is. Apart
// from ReadExecutionFlags so that a tool checks it among its own flags of
// that kind, in the order it reports them.
absl::Status CheckCudaOnlyFlags(const CommandLine& cl, const ExecutionFlags& flags);

}  // namespace bloom::tools
