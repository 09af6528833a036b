// bloom-serve's routes on a cpp-httplib server, and what they share: JSON
// replies, waiting for a request's end under its timeout, and streaming a
// request's tokens through a chunked content provider that notices a closed
// connection (a failed write, or !is_writable) and cancels the request.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "httplib.h"
#include "tools/bloom-serve/server_state.h"

namespace bloom::serve_tool {

void AddOpenAiRoutes(httplib::Server& server, ServerState& state);  // /v1/completions
void AddTgiRoutes(httplib::Server& server, ServerState& state);     // /generate[_stream]
// /health, /info, /metrics, /v1/models, and the 404 / 405 answers.
void AddOpsRoutes(httplib::Server& server, ServerState& state);

void SendJson(httplib::Response& res, int status, const std::string& body);
// The error_type of a status: "validation" (400/422), "overloaded" (429),
// "unavailable" (503), "timeout" (504), "internal" otherwise.
std::string ErrorType(const absl::Status& status);
// A failed request: its JSON error (429 with Retry-After) and its log line.
void SendError(const httplib::Request& req, httplib::Response& res, const absl::Status& status,
               const std::string& body, absl::Time start);
// A request refused before it was submitted (its body does not parse, or
// does not fit the plan): counted as failed, "invalid_request" for a 400 and
// "unprocessable" otherwise, then answered as SendError does.
void SendRefused(ServerState& state, const httplib::Request& req, httplib::Response& res,
                 const absl::Status& status, const std::string& body, absl::Time start);

// Waits for a non-streamed request's end, moving its tokens into `tokens`;
// at the timeout it is cancelled and DeadlineExceeded returned. The
// request's bookkeeping ends here.
absl::Status AwaitEnd(ServerState& state, const ServerState::Submitted& s,
                      std::vector<TokenPiece>& tokens);

struct StreamHandlers {
  // The bytes to send for tokens that arrived (may be empty).
  std::function<std::string(const std::vector<TokenPiece>&)> on_tokens;
  // The last bytes, once the request has ended; `status` is not OK when it
  // timed out or failed.
  std::function<std::string(const StreamingSink&, const absl::Status& status)> on_end;
  // After the response is over (completed or the client gone): the log line.
  std::function<void(const StreamingSink&, bool completed)> on_release;
};
// The on_release every streamed route uses: its access-log line, 200 when
// the stream completed, 499 when the client closed the connection first
// (nginx's convention).
std::function<void(const StreamingSink&, bool completed)> StreamAccessLog(
    const httplib::Request& req, int64_t prompt_tokens, absl::Time start);
// Streams `s` as text/event-stream.
void StreamResponse(ServerState& state, httplib::Response& res, ServerState::Submitted s,
                    StreamHandlers handlers);

double MsSince(absl::Time start);

}  // namespace bloom::serve_tool
