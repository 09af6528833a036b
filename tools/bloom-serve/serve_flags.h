// bloom-serve's flags: their declaration (what --help prints) and their
// parsing into ServeFlags, with every check that needs no plan. A failure
// here is a usage error (exit code 2).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/common/command_line.h"

namespace bloom::serve_tool {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct ServeFlags {
  std::string plan_dir;
  std::string host = "127.0.0.1";
  int32_t port = 8080;     // 0: any free port (printed on stderr)
  int32_t max_queue = 64;  // requests waiting for admission; 0: no bound
  absl::Duration request_timeout = absl::Seconds(600);
  absl::Duration grace_period = absl::Seconds(30);
  int32_t http_threads = 64;
  // --batching: continuous (the engine's default) or static, for comparison.
  bool static_batching = false;
  int32_t static_batch_size = 0;  // 0: the plan's max_sequences
  absl::Duration static_batch_timeout = absl::Milliseconds(100);
  std::string model_name;  // empty: the plan directory's name
  // --replicas: independent engines (each a full copy of the model) that
  // requests are routed to, the least loaded first.
  int32_t replicas = 1;
  // Read by tools::ReadExecutionFlags, as bloom-run reads them.
  std::string backend = "cpu";
  std::string cuda_collectives = "auto";  // --cuda-collectives: auto, nccl or host
  std::string checkpoint_dir;
  std::string tokenizer;
};

tools::CommandLine MakeCommandLine();
absl::StatusOr<ServeFlags> ReadServeFlags(const tools::CommandLine& cl);

}  // namespace bloom::serve_tool
