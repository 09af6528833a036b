#include "tools/bloom-serve/server_state.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/serve/api_fields.h"

namespace bloom::serve_tool {

ServerState::ServerState(ServeFlags flags_in, ModelFacts facts_in, Tokenizer tokenizer_in)
    : flags(std::move(flags_in)),
      facts(facts_in),
      tokenizer(std::move(tokenizer_in)),
      metrics(flags.replicas),
      load_(flags.replicas, 0) {}

void ServerState::SetEngines(std::vector<Engine*> engines) {
  engines_ = std::move(engines);
  ready_.store(true, std::memory_order_release);
}

uint64_t ServerState::DrawSeed() {
  std::lock_guard<std::mutex> lock(mu_);
  return seeds_() >> 1;  // within JSON's and the parsers' int64 range
}

int32_t ServerState::Route(const std::vector<bool>& tried) {
  // Choosing and counting under one lock: concurrent submissions see each
  // other's choices, so a burst spreads instead of piling on one replica.
  std::lock_guard<std::mutex> lock(mu_);
  int32_t best = -1;
  for (int32_t r = 0; r < static_cast<int32_t>(load_.size()); ++r) {
    if (!tried[r] && (best < 0 || load_[r] < load_[best])) best = r;
  }
  if (best >= 0) ++load_[best];
  return best;
}

void ServerState::Unroute(int32_t replica) {
  std::lock_guard<std::mutex> lock(mu_);
  --load_[replica];
}

absl::StatusOr<ServerState::Submitted> ServerState::Submit(PreparedRequest prepared) {
  if (!ready()) return absl::UnavailableError("the model is still loading");
  if (draining.load()) return absl::UnavailableError("the server is shutting down");
  std::vector<bool> tried(engines_.size(), false);
  absl::Status refused;
  for (int32_t replica = Route(tried); replica >= 0; replica = Route(tried)) {
    tried[replica] = true;
    // The sink gives the replica's load back when the engine ends the
    // request (every accepted request ends exactly once, on the engine's
    // thread); a refused one never reaches the engine.
    auto sink = std::make_shared<StreamingSink>(tokenizer, prepared.stop,
                                                prepared.request.prompt.size(), metrics, replica,
                                                [this, replica] { Unroute(replica); });
    absl::StatusOr<RequestId> id = engines_[replica]->Submit(prepared.request, sink);
    if (id.ok()) {
      metrics.RecordRouted(replica);
      std::lock_guard<std::mutex> lock(mu_);
      Submitted s{next_id_++, replica, *id, std::move(sink)};
      in_flight_.emplace(s.id, s);
      return s;
    }
    Unroute(replica);
    refused = id.status();
    // A request the plan cannot run is refused by every replica alike.
    if (!absl::IsResourceExhausted(refused)) break;
  }
  if (absl::IsResourceExhausted(refused)) {
    metrics.RecordFailed("overloaded");
    return absl::ResourceExhaustedError(
        "the server is overloaded: too many requests are waiting; retry later");
  }
  metrics.RecordFailed("unprocessable");
  return absl::OutOfRangeError(refused.message());
}

void ServerState::Done(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  in_flight_.erase(id);
  if (in_flight_.empty()) idle_.notify_all();
}

void ServerState::Cancel(const Submitted& s, const std::string& cause) {
  s.sink->SetCancelCause(cause);
  if (ready()) engines_[s.replica]->Cancel(s.engine_id);
}

bool ServerState::WaitIdle(absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_.wait_for(
      lock, absl::ToChronoMilliseconds(std::max(absl::ZeroDuration(), deadline - absl::Now())),
      [&] { return in_flight_.empty(); });
}

void ServerState::CancelAll(const std::string& cause) {
  std::vector<Submitted> live;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, s] : in_flight_) live.push_back(s);
  }
  for (const Submitted& s : live) Cancel(s, cause);
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
