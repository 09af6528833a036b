// One HTTP request's view of the engine: a RequestSink that the engine fills
// on its thread (each token decoded to text at once, stop strings matched)
// and a thread-safe queue the HTTP thread drains, waiting with a timeout so
// that it can notice a closed connection or a passed deadline. The sink
// also records the request's metrics when it ends, so every request that
// reached an engine is counted exactly once, against its replica.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/serve/engine.h"
#include "runtime/serve/metrics.h"
#include "runtime/serve/text_stream.h"

namespace bloom::serve_tool {

struct TokenPiece {
  int32_t id = 0;
  std::string text;  // what this token adds to the text (often empty)
  bool special = false;
  float logprob = 0;
};

class StreamingSink : public RequestSink {
 public:
  // `replica`: the engine the request goes to; `on_finished` (may be
  // empty) runs on the engine's thread as the request ends, before Wait
  // sees the end.
  StreamingSink(const Tokenizer& tokenizer, std::vector<std::string> stop_strings,
                int64_t prompt_tokens, serve::ServeMetrics& metrics, int32_t replica = 0,
                std::function<void()> on_finished = {});

  // Engine thread.
  bool OnToken(int32_t token, float logprob) override;
  void OnFinish(absl::StatusOr<GenerationOutcome> outcome) override;

  // HTTP thread: waits up to `timeout` for tokens or the end; moves the
  // tokens that arrived into `out`. Returns whether the request has ended
  // (then every token has been handed out).
  bool Wait(absl::Duration timeout, std::vector<TokenPiece>& out);
  // After Wait returned true: the outcome, and the text held back until the
  // end (a partial stop string that never completed, a partial character).
  const absl::StatusOr<GenerationOutcome>& outcome() const { return *outcome_; }
  const std::string& tail_text() const { return tail_; }
  // The whole text, as TextStream::text() after the end.
  const std::string& text() const { return text_; }

  // Why the request is being cancelled ("timeout", "client_disconnected",
  // "shutdown"): its metrics count it as failed with that cause.
  void SetCancelCause(const std::string& cause);

 private:
  using Clock = std::chrono::steady_clock;
  serve::ServeMetrics& metrics_;
  const Tokenizer& tokenizer_;
  const int64_t prompt_tokens_;
  const int32_t replica_;
  const std::function<void()> on_finished_;
  TextStream stream_;  // engine thread only
  std::vector<double> gaps_s_;
  std::optional<Clock::time_point> last_token_;

  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<TokenPiece> pending_;
  std::optional<absl::StatusOr<GenerationOutcome>> outcome_;
  std::string tail_, text_;
  std::string cancel_cause_ = "cancelled";
};

}  // namespace bloom::serve_tool
