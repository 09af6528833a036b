// What every route shares: the model's facts, the tokenizer, the engines
// (one per replica, none while the model loads) and the router between
// them, the metrics, and the bookkeeping of in-flight requests that
// graceful shutdown and the access log need. Routes only parse, submit and
// stream; each engine's thread owns its steps.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <map>
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
  ServerState(ServeFlags flags, ModelFacts facts, Tokenizer tokenizer);

  const ServeFlags flags;
  const ModelFacts facts;
  const Tokenizer tokenizer;
  serve::ServeMetrics metrics;
  const int64_t started_unix = absl::ToUnixSeconds(absl::Now());

  std::atomic<bool> draining{false};

  // The replicas' engines, once every one is loaded (flags.replicas of
  // them, index = replica): /health answers 200 and Submit routes from then
  // on. Called once, before any engine is used by a route.
  void SetEngines(std::vector<Engine*> engines);
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  // After SetEngines: the engines, in replica order.
  const std::vector<Engine*>& engines() const { return engines_; }

  // A seed for a sampled request that gave none.
  uint64_t DrawSeed();

  // Submits `prepared` with a new sink to the least-loaded replica (its
  // load: the requests routed to it that its engine has not yet finished;
  // ties to the lowest index); a replica whose queue is full passes it on
  // to the next least loaded. Errors: Unavailable while loading or
  // draining, ResourceExhausted when every queue is full, OutOfRange for a
  // request the plan cannot run.
  struct Submitted {
    uint64_t id = 0;  // unique in this server (engines number requests each on their own)
    int32_t replica = 0;
    RequestId engine_id = 0;  // the id in the replica's engine
    std::shared_ptr<StreamingSink> sink;
  };
  absl::StatusOr<Submitted> Submit(PreparedRequest prepared);
  // Ends `id`'s bookkeeping (its response is complete).
  void Done(uint64_t id);
  // Cancels `s` on its replica with `cause` for its metrics.
  void Cancel(const Submitted& s, const std::string& cause);

  // Graceful shutdown: waits until no request is in flight or `deadline`.
  bool WaitIdle(absl::Time deadline);
  // Cancels every request in flight (the grace period has passed).
  void CancelAll(const std::string& cause);
  int64_t in_flight() const;

 private:
  // Picks the least-loaded replica not in `tried` and counts the request
  // against it; -1 when every replica was tried.
  int32_t Route(const std::vector<bool>& tried);
  // The engine of `replica` has finished one of its requests.
  void Unroute(int32_t replica);

  std::atomic<bool> ready_{false};
  std::vector<Engine*> engines_;  // written once, before ready_

  mutable std::mutex mu_;
  std::condition_variable idle_;
  std::vector<int64_t> load_;  // per replica
  // Requests whose response is not complete, by Submitted::id.
  std::map<uint64_t, Submitted> in_flight_;
  uint64_t next_id_ = 1;
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
