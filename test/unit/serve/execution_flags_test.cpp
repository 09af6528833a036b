// The execution flags bloom-run and bloom-serve share
// (tools/common/execution_flags.h): parsed from hand-written command lines
// against the values and the one-line usage errors docs/cli.md and
// docs/serving.md give for them.
#include "tools/common/execution_flags.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"

namespace bloom::tools {
namespace {

// A command line of `program` with the execution flags and --tokenizer,
// parsed from `args`.
CommandLine Parsed(std::vector<std::string> args, std::string program = "bloom-serve") {
  CommandLine cl(program, "PLAN_DIR [flags]");
  AddExecutionFlags(cl);
  AddTokenizerFlag(cl);
  std::vector<char*> argv = {program.data()};
  for (std::string& a : args) argv.push_back(a.data());
  absl::Status parsed = cl.Parse(static_cast<int>(argv.size()), argv.data());
  EXPECT_TRUE(parsed.ok()) << parsed;
  return cl;
}

TEST(ExecutionFlagsTest, DefaultsAreTheCpuBackendAndThePlansOwnFiles) {
  CommandLine cl = Parsed({"plan"});
  absl::StatusOr<ExecutionFlags> f = ReadExecutionFlags(cl);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->backend, "cpu");
  EXPECT_EQ(f->cuda_collectives, "auto");
  EXPECT_EQ(f->checkpoint_dir, "");
  EXPECT_EQ(f->tokenizer, "");
  EXPECT_TRUE(CheckCudaOnlyFlags(cl, *f).ok());
}

TEST(ExecutionFlagsTest, ReadsEveryFlag) {
  CommandLine cl = Parsed({"plan", "--backend=cuda", "--cuda-collectives=host",
                           "--checkpoint-dir=/ckpt", "--tokenizer", "/tok.json"});
  absl::StatusOr<ExecutionFlags> f = ReadExecutionFlags(cl);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->backend, "cuda");
  EXPECT_EQ(f->cuda_collectives, "host");
  EXPECT_EQ(f->checkpoint_dir, "/ckpt");
  EXPECT_EQ(f->tokenizer, "/tok.json");
  EXPECT_TRUE(CheckCudaOnlyFlags(cl, *f).ok());
}

TEST(ExecutionFlagsTest, RefusesValuesThatNameNoBackendOrTransport) {
  absl::StatusOr<ExecutionFlags> backend = ReadExecutionFlags(Parsed({"plan", "--backend=rocm"}));
  EXPECT_EQ(backend.status(), absl::InvalidArgumentError("--backend: 'rocm' is not cpu or cuda"));
  absl::StatusOr<ExecutionFlags> collectives =
      ReadExecutionFlags(Parsed({"plan", "--backend=cuda", "--cuda-collectives=mpi"}));
  EXPECT_EQ(collectives.status(),
            absl::InvalidArgumentError("--cuda-collectives: 'mpi' is not auto, nccl or host"));
}

TEST(ExecutionFlagsTest, CudaCollectivesOnlyWithTheCudaBackend) {
  for (const char* value : {"auto", "nccl", "host"}) {
    CommandLine cl = Parsed({"plan", std::string("--cuda-collectives=") + value});
    absl::StatusOr<ExecutionFlags> f = ReadExecutionFlags(cl);
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(CheckCudaOnlyFlags(cl, *f),
              absl::InvalidArgumentError("--cuda-collectives: only applies with --backend=cuda"))
        << value;
  }
}

TEST(ExecutionFlagsTest, ExactlyOnePlanDir) {
  absl::StatusOr<std::string> one = ReadPlanDir(Parsed({"--backend=cpu", "dir/plan"}));
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(*one, "dir/plan");
  EXPECT_EQ(ReadPlanDir(Parsed({})).status(),
            absl::InvalidArgumentError("expected a PLAN_DIR argument (see --help)"));
  EXPECT_EQ(ReadPlanDir(Parsed({"a", "b"})).status(),
            absl::InvalidArgumentError("expected one PLAN_DIR argument, got 2 (see --help)"));
}

TEST(ExecutionFlagsTest, HelpNamesTheToolThatWasBuilt) {
  EXPECT_TRUE(absl::StrContains(Parsed({}, "bloom-run").HelpText(),
                                "cuda (when this bloom-run was built with CUDA)"));
  EXPECT_TRUE(absl::StrContains(Parsed({}, "bloom-serve").HelpText(),
                                "cuda (when this bloom-serve was built with CUDA)"));
}

}  // namespace
}  // namespace bloom::tools
