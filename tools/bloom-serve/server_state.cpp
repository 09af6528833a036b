#include "tools/bloom-serve/server_state.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/serve/api_fields.h"

namespace bloom::serve_tool {

uint64_t ServerState::DrawSeed() {
  std::lock_guard<std::mutex> lock(mu_);
  return seeds_() >> 1;  // within JSON's and the parsers' int64 range
}

absl::StatusOr<ServerState::Submitted> ServerState::Submit(PreparedRequest prepared) {
  Engine* e = engine.load();
  if (e == nullptr) return absl::UnavailableError("the model is still loading");
  if (draining.load()) return absl::UnavailableError("the server is shutting down");
  auto sink = std::make_shared<StreamingSink>(tokenizer, std::move(prepared.stop),
                                              prepared.request.prompt.size(), metrics);
  absl::StatusOr<RequestId> id = e->Submit(std::move(prepared.request), sink);
  if (!id.ok()) {
    if (absl::IsResourceExhausted(id.status())) {
      metrics.RecordFailed("overloaded");
      return absl::ResourceExhaustedError(
          "the server is overloaded: too many requests are waiting; retry later");
    }
    metrics.RecordFailed("unprocessable");
    return absl::OutOfRangeError(id.status().message());
  }
  std::lock_guard<std::mutex> lock(mu_);
  in_flight_.insert(*id);
  sinks_.emplace_back(*id, sink);
  return Submitted{*id, std::move(sink)};
}

void ServerState::Done(RequestId id) {
  std::lock_guard<std::mutex> lock(mu_);
  in_flight_.erase(id);
  for (size_t i = 0; i < sinks_.size(); ++i) {
    if (sinks_[i].first == id) {
      sinks_.erase(sinks_.begin() + i);
      break;
    }
  }
  if (in_flight_.empty()) idle_.notify_all();
}

void ServerState::Cancel(const Submitted& s, const std::string& cause) {
  s.sink->SetCancelCause(cause);
  if (Engine* e = engine.load()) e->Cancel(s.id);
}

bool ServerState::WaitIdle(absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_.wait_for(
      lock, absl::ToChronoMilliseconds(std::max(absl::ZeroDuration(), deadline - absl::Now())),
      [&] { return in_flight_.empty(); });
}

void ServerState::CancelAll(const std::string& cause) {
  std::vector<std::pair<RequestId, std::shared_ptr<StreamingSink>>> live;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, weak] : sinks_) {
      if (auto sink = weak.lock()) live.emplace_back(id, std::move(sink));
    }
  }
  for (auto& [id, sink] : live) Cancel({id, sink}, cause);
}

int64_t ServerState::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(in_flight_.size());
}

absl::StatusOr<PreparedRequest> PrepareRequest(const ServerState& state, const std::string& field,
                                               const std::string* text,
                                               const std::vector<int32_t>* tokens,
                                               std::optional<int32_t> max_new_tokens,
                                               std::optional<int32_t> truncate_to) {
  PreparedRequest p;
  std::vector<int32_t>& ids = p.request.prompt;
  if (text != nullptr) {
    absl::StatusOr<std::vector<int32_t>> encoded = state.tokenizer.Encode(*text);
    if (!encoded.ok())
      return serve::FieldRangeError(field, std::string(encoded.status().message()));
    ids = *std::move(encoded);
    if (ids.empty()) return serve::FieldRangeError(field, "encodes to no tokens");
  } else {
    ids = *tokens;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] >= state.facts.vocab) {
        return serve::FieldRangeError(
            field, absl::StrCat("token id ", ids[i], " at index ", i,
                                " is outside the vocabulary [0, ", state.facts.vocab, ")"));
      }
    }
  }
  if (truncate_to && static_cast<int32_t>(ids.size()) > *truncate_to) {
    ids.erase(ids.begin(), ids.end() - *truncate_to);
  }
  const int32_t room = state.facts.max_seq_len - static_cast<int32_t>(ids.size()) + 1;
  p.request.max_new_tokens = max_new_tokens.value_or(std::max(1, std::min(100, room)));
  // FitPrompt's rule (the last generated token is never fed back: P + N - 1
  // positions), with an error that names the request's field, not a flag.
  const int64_t needed = static_cast<int64_t>(ids.size()) + p.request.max_new_tokens - 1;
  if (needed > state.facts.max_seq_len) {
    return serve::FieldRangeError(
        field, absl::StrCat("the prompt has ", ids.size(), " tokens; with ",
                            p.request.max_new_tokens, " new tokens it needs ", needed,
                            " positions but the model's max_seq_len is ", state.facts.max_seq_len));
  }
  p.request.eos_token_id = state.facts.eos_token_id;
  p.prompt_text = state.tokenizer.Decode(ids);
  return p;
}

void AccessLog(const std::string& method, const std::string& path, int status, int64_t tokens_in,
               int64_t tokens_out, double ttft_ms, double total_ms) {
  const std::string line =
      absl::StrFormat("bloom-serve: %s %s %d in=%d out=%d ttft_ms=%.1f total_ms=%.1f\n", method,
                      path, status, tokens_in, tokens_out, ttft_ms, total_ms);
  std::fputs(line.c_str(), stderr);
}

}  // namespace bloom::serve_tool
