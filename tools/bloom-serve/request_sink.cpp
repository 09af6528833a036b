#include "tools/bloom-serve/request_sink.h"

namespace bloom::serve_tool {

StreamingSink::StreamingSink(const Tokenizer& tokenizer, std::vector<std::string> stop_strings,
                             int64_t prompt_tokens, serve::ServeMetrics& metrics,
                             int32_t replica, std::function<void()> on_finished)
    : metrics_(metrics),
      tokenizer_(tokenizer),
      prompt_tokens_(prompt_tokens),
      replica_(replica),
      on_finished_(std::move(on_finished)),
      stream_(tokenizer, std::move(stop_strings)) {}

bool StreamingSink::OnToken(int32_t token, float logprob) {
  const Clock::time_point now = Clock::now();
  if (last_token_) gaps_s_.push_back(std::chrono::duration<double>(now - *last_token_).count());
  last_token_ = now;
  TokenPiece piece{token, stream_.Next(token), tokenizer_.IsSpecial(token), logprob};
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.push_back(std::move(piece));
  }
  changed_.notify_all();
  return stream_.stopped();
}

void StreamingSink::OnFinish(absl::StatusOr<GenerationOutcome> outcome) {
  std::string tail = stream_.Finish();
  std::string cause;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cause = cancel_cause_;
  }
  if (!outcome.ok()) {
    metrics_.RecordFailed("engine_error", replica_);
  } else if (outcome->finish_reason == FinishReason::kCancelled) {
    metrics_.RecordFailed(cause, replica_);
  } else {
    const GenerationOutcome& o = *outcome;
    metrics_.RecordFinished(FinishReasonName(o.finish_reason), prompt_tokens_,
                            static_cast<int64_t>(o.tokens.size()), o.queue_ms / 1000,
                            o.ttft_ms / 1000, o.total_ms / 1000, gaps_s_, replica_);
  }
  if (on_finished_) on_finished_();
  {
    std::lock_guard<std::mutex> lock(mu_);
    tail_ = std::move(tail);
    text_ = stream_.text();
    outcome_ = std::move(outcome);
  }
  changed_.notify_all();
}

bool StreamingSink::Wait(absl::Duration timeout, std::vector<TokenPiece>& out) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                    [&] { return !pending_.empty() || outcome_.has_value(); });
  for (TokenPiece& p : pending_) out.push_back(std::move(p));
  pending_.clear();
  return outcome_.has_value();
}

void StreamingSink::SetCancelCause(const std::string& cause) {
  std::lock_guard<std::mutex> lock(mu_);
  cancel_cause_ = cause;
}

}  // namespace bloom::serve_tool
