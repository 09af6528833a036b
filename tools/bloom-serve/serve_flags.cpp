#include "tools/bloom-serve/serve_flags.h"

#include "absl/strings/str_cat.h"
#include "tools/common/execution_flags.h"

namespace bloom::serve_tool {

using tools::CommandLine;
using tools::FlagError;

CommandLine MakeCommandLine() {
  CommandLine cl("bloom-serve",
                 "PLAN_DIR [flags]\n\n"
                 "Serves a plan written by bloom-compile over HTTP: OpenAI's /v1/completions and "
                 "/v1/models, text-generation-inference's /generate and /generate_stream, and "
                 "/health, /info, /metrics (docs/serving.md).");
  cl.AddSection("Listening");
  cl.AddFlag("host", CommandLine::Kind::kString, "127.0.0.1", "Address to listen on.");
  cl.AddFlag("port", CommandLine::Kind::kInt, "8080",
             "Port to listen on; 0 picks a free one (the address is printed on stderr).");
  cl.AddFlag("http-threads", CommandLine::Kind::kInt, "64",
             "Connections served at once (each streaming client holds one).");
  cl.AddSection("Replicas");
  cl.AddFlag("replicas", CommandLine::Kind::kInt, "1",
             "Independent engines in this process, each a full copy of the plan (its own "
             "weights and KV cache; a tensor- or pipeline-parallel group when the plan is "
             "one), in [1, 64]. Each request goes to the least-loaded replica (requests "
             "running or waiting there; ties to the lowest index); /metrics adds "
             "bloom:replica_* series per replica. --max-queue applies to each replica. On "
             "CUDA replica k's ranks take the GPUs from k x (its ranks) on, modulo the "
             "visible GPUs: K replicas of an N-GPU plan on K x N GPUs each run on their own. "
             "Refused under mpirun.");
  cl.AddSection("Requests");
  cl.AddFlag("max-queue", CommandLine::Kind::kInt, "64",
             "Requests that may wait for a KV-cache slot; more are answered 429 with "
             "Retry-After (0: no bound).");
  cl.AddFlag("request-timeout", CommandLine::Kind::kString, "600s",
             "A request still running after this long is cancelled and answered 504 (a "
             "duration: 30s, 2m, 1500ms).");
  cl.AddFlag("grace-period", CommandLine::Kind::kString, "30s",
             "On SIGTERM or SIGINT: how long in-flight requests may take to finish before they "
             "are cancelled.");
  cl.AddSection("Batching");
  cl.AddFlag("batching", CommandLine::Kind::kString, "continuous",
             "continuous: a request joins the running ones at the next step with room. static: "
             "as servers batched before continuous batching, for comparison: a batch forms "
             "once --static-batch-size requests wait or the oldest has waited "
             "--static-batch-timeout, and runs to completion before anything else is admitted.");
  cl.AddFlag("static-batch-size", CommandLine::Kind::kInt, "0",
             "--batching=static: requests per batch (0, or more than the plan's max_sequences: "
             "max_sequences).");
  cl.AddFlag("static-batch-timeout", CommandLine::Kind::kString, "100ms",
             "--batching=static: how long the oldest waiting request waits for a batch to fill "
             "before a smaller one starts (a duration).");
  cl.AddFlag("model-name", CommandLine::Kind::kString, "",
             "The model's name in responses and /v1/models. Default: the plan directory's name.");
  tools::AddExecutionFlags(cl);
  tools::AddTokenizerFlag(cl);
  cl.SetEpilogue(
      "Exit codes:\n"
      "  0  stopped by SIGTERM or SIGINT after finishing in-flight requests\n"
      "  1  a failure while loading (plan, weights, tokenizer) or listening\n"
      "  2  a usage error\n");
  return cl;
}

namespace {

absl::StatusOr<absl::Duration> DurationFlag(const CommandLine& cl, const char* flag) {
  absl::Duration d;
  if (!absl::ParseDuration(cl.GetString(flag), &d) || d <= absl::ZeroDuration() ||
      d == absl::InfiniteDuration()) {
    return FlagError(flag, absl::StrCat("'", cl.GetString(flag),
                                        "' is not a positive duration (e.g. 30s, 2m, 1500ms)"));
  }
  return d;
}

}  // namespace

absl::StatusOr<ServeFlags> ReadServeFlags(const CommandLine& cl) {
  ServeFlags f;
  absl::StatusOr<std::string> plan_dir = tools::ReadPlanDir(cl);
  if (!plan_dir.ok()) return plan_dir.status();
  f.plan_dir = *std::move(plan_dir);
  f.host = cl.GetString("host");
  const int64_t port = cl.GetInt("port");
  if (port < 0 || port > 65535) return FlagError("port", "must be in [0, 65535]");
  f.port = static_cast<int32_t>(port);
  const int64_t threads = cl.GetInt("http-threads");
  if (threads < 2 || threads > 4096) return FlagError("http-threads", "must be in [2, 4096]");
  f.http_threads = static_cast<int32_t>(threads);
  const int64_t queue = cl.GetInt("max-queue");
  if (queue < 0 || queue > (1 << 20)) return FlagError("max-queue", "must be in [0, 1048576]");
  f.max_queue = static_cast<int32_t>(queue);
  absl::StatusOr<absl::Duration> timeout = DurationFlag(cl, "request-timeout");
  if (!timeout.ok()) return timeout.status();
  f.request_timeout = *timeout;
  absl::StatusOr<absl::Duration> grace = DurationFlag(cl, "grace-period");
  if (!grace.ok()) return grace.status();
  f.grace_period = *grace;
  const std::string batching = cl.GetString("batching");
  if (batching != "continuous" && batching != "static") {
    return FlagError("batching",
                     absl::StrCat("must be continuous or static, got '", batching, "'"));
  }
  f.static_batching = batching == "static";
  const int64_t batch_size = cl.GetInt("static-batch-size");
  if (batch_size < 0 || batch_size > (1 << 20)) {
    return FlagError("static-batch-size", "must be in [0, 1048576]");
  }
  f.static_batch_size = static_cast<int32_t>(batch_size);
  absl::StatusOr<absl::Duration> batch_timeout = DurationFlag(cl, "static-batch-timeout");
  if (!batch_timeout.ok()) return batch_timeout.status();
  f.static_batch_timeout = *batch_timeout;
  absl::StatusOr<tools::ExecutionFlags> execution = tools::ReadExecutionFlags(cl);
  if (!execution.ok()) return execution.status();
  if (absl::Status s = tools::CheckCudaOnlyFlags(cl, *execution); !s.ok()) return s;
  f.backend = execution->backend;
  f.cuda_collectives = execution->cuda_collectives;
  f.checkpoint_dir = execution->checkpoint_dir;
  f.tokenizer = execution->tokenizer;
  const int64_t replicas = cl.GetInt("replicas");
  if (replicas < 1 || replicas > 64) {
    return FlagError("replicas", absl::StrCat("must be in [1, 64], got ", replicas));
  }
  f.replicas = static_cast<int32_t>(replicas);
  f.model_name = cl.GetString("model-name");
  if (f.model_name.empty()) {
    std::string dir = f.plan_dir;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    f.model_name = dir.substr(dir.find_last_of('/') + 1);
  }
  return f;
}

}  // namespace bloom::serve_tool
