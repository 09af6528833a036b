// What every route shares: the model's facts, the tokenizer, the engine
// (null while the model loads), the metrics, and the bookkeeping of
// in-flight requests that graceful shutdown and the access log need.
// Routes only parse, submit and stream; the engine thread owns the steps.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/serve/engine.h"
#include "runtime/serve/metrics.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tools/bloom-serve/request_sink.h"
#include "tools/bloom-serve/serve_flags.h"

namespace bloom::serve_tool {

struct ModelFacts {
  int64_t vocab = 0;
  int32_t max_seq_len = 0;
  int32_t max_batch_tokens = 0;
  int32_t max_sequences = 0;
  int32_t eos_token_id = -1;
  int32_t tp = 1;
  std::string dtype;
};

// A request ready for the engine: its ids (after truncation) and settings.
struct PreparedRequest {
  GenerationRequest request;
  std::vector<std::string> stop;
  std::string prompt_text;  // the prompt as the model sees it (for echo)
};

class ServerState {
 public:
  ServerState(ServeFlags flags, ModelFacts facts, Tokenizer tokenizer)
      : flags(std::move(flags)), facts(facts), tokenizer(std::move(tokenizer)) {}

  const ServeFlags flags;
  const ModelFacts facts;
  const Tokenizer tokenizer;
  serve::ServeMetrics metrics;
  const int64_t started_unix = absl::ToUnixSeconds(absl::Now());

  // Set once the weights are loaded; /health answers 200 from then on.
  std::atomic<Engine*> engine{nullptr};
  std::atomic<bool> draining{false};

  // A seed for a sampled request that gave none.
  uint64_t DrawSeed();

  // Submits `prepared` with a new sink. Errors: Unavailable while loading or
  // draining, ResourceExhausted when the queue is full, OutOfRange for a
  // request the plan cannot run.
  struct Submitted {
    RequestId id = 0;
    std::shared_ptr<StreamingSink> sink;
  };
  absl::StatusOr<Submitted> Submit(PreparedRequest prepared);
  // Ends `id`'s bookkeeping (its response is complete).
  void Done(RequestId id);
  // Cancels `id` with `cause` for its metrics.
  void Cancel(const Submitted& s, const std::string& cause);

  // Graceful shutdown: waits until no request is in flight or `deadline`.
  bool WaitIdle(absl::Time deadline);
  // Cancels every request in flight (the grace period has passed).
  void CancelAll(const std::string& cause);
  int64_t in_flight() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable idle_;
  std::set<RequestId> in_flight_;
  std::vector<std::pair<RequestId, std::weak_ptr<StreamingSink>>> sinks_;
  std::mt19937_64 seeds_{std::random_device{}()};
};

// Tokenizes (or checks) a prompt and fits it to the plan: `truncate_to`
// keeps the last tokens first (TGI's truncate); a prompt that still does
// not fit is OutOfRange naming `field`. `max_new_tokens` nullopt: as many
// as fit, at most 100 (TGI's default).
absl::StatusOr<PreparedRequest> PrepareRequest(const ServerState& state, const std::string& field,
                                               const std::string* text,
                                               const std::vector<int32_t>* tokens,
                                               std::optional<int32_t> max_new_tokens,
                                               std::optional<int32_t> truncate_to);

// One access-log line on stderr: method, route, status, tokens in and out,
// time to first token and total time (ms).
void AccessLog(const std::string& method, const std::string& path, int status, int64_t tokens_in,
               int64_t tokens_out, double ttft_ms, double total_ms);

}  // namespace bloom::serve_tool
