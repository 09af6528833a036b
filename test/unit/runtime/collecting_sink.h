// A RequestSink that records what the engine hands one request: every
// streamed token, how many times it heard the finish, and the outcome.
// Shared by the engine's tests (engine_test_fixture.h, engine_in_flight_test).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/serve/engine.h"

namespace bloom::testing {

class CollectingSink : public RequestSink {
 public:
  bool OnToken(int32_t token, float /*logprob*/) override {
    tokens.push_back(token);
    return on_token ? on_token(token) : false;
  }
  void OnFinish(absl::StatusOr<GenerationOutcome> outcome) override {
    ++finishes;
    result = std::move(outcome);
    finished.store(true);
  }

  // Asked after each token; true cancels the request.
  std::function<bool(int32_t)> on_token;
  std::vector<int32_t> tokens;
  int finishes = 0;
  std::optional<absl::StatusOr<GenerationOutcome>> result;
  std::atomic<bool> finished{false};
};

}  // namespace bloom::testing
