// The parts of http_routes.h that every route uses.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "runtime/serve/api_fields.h"
#include "tools/bloom-serve/http_routes.h"

namespace bloom::serve_tool {

double MsSince(absl::Time start) { return absl::ToDoubleMilliseconds(absl::Now() - start); }

void SendJson(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

std::string ErrorType(const absl::Status& status) {
  switch (serve::HttpStatusOf(status)) {
    case 400:
    case 422:
      return "validation";
    case 404:
      return "not_found";
    case 429:
      return "overloaded";
    case 503:
      return "unavailable";
    case 504:
      return "timeout";
    default:
      return "internal";
  }
}

void SendError(const httplib::Request& req, httplib::Response& res, const absl::Status& status,
               const std::string& body, absl::Time start) {
  const int http = serve::HttpStatusOf(status);
  SendJson(res, http, body);
  if (http == 429 || http == 503) res.set_header("Retry-After", "1");
  AccessLog(req.method, req.path, http, 0, 0, 0, MsSince(start));
}

void SendRefused(ServerState& state, const httplib::Request& req, httplib::Response& res,
                 const absl::Status& status, const std::string& body, absl::Time start) {
  state.metrics.RecordFailed(serve::HttpStatusOf(status) == 400 ? "invalid_request"
                                                                : "unprocessable");
  SendError(req, res, status, body, start);
}

absl::Status AwaitEnd(ServerState& state, const ServerState::Submitted& s,
                      std::vector<TokenPiece>& tokens) {
  const absl::Time deadline = absl::Now() + state.flags.request_timeout;
  bool timed_out = false;
  while (!s.sink->Wait(absl::Milliseconds(200), tokens)) {
    if (!timed_out && absl::Now() > deadline) {
      timed_out = true;
      state.Cancel(s, "timeout");
    }
  }
  state.Done(s.id);
  const absl::StatusOr<GenerationOutcome>& outcome = s.sink->outcome();
  if (!outcome.ok()) return outcome.status();
  if (outcome->finish_reason == FinishReason::kCancelled) {
    return timed_out ? absl::DeadlineExceededError(
                           absl::StrCat("the request did not finish within --request-timeout=",
                                        absl::FormatDuration(state.flags.request_timeout)))
                     : absl::UnavailableError(
                           "the request was cancelled (the server is "
                           "shutting down)");
  }
  return absl::OkStatus();
}

namespace {

struct StreamContext {
  ServerState* state;
  ServerState::Submitted s;
  StreamHandlers handlers;
  absl::Time deadline;
  absl::Time last_write;
  bool timed_out = false;
  bool finished = false;
};

}  // namespace

std::function<void(const StreamingSink&, bool completed)> StreamAccessLog(
    const httplib::Request& req, int64_t prompt_tokens, absl::Time start) {
  return [method = req.method, path = req.path, prompt_tokens, start](const StreamingSink& sink,
                                                                      bool completed) {
    const absl::StatusOr<GenerationOutcome>& o = sink.outcome();
    AccessLog(method, path, completed ? 200 : 499, prompt_tokens,
              o.ok() ? static_cast<int64_t>(o->tokens.size()) : 0, o.ok() ? o->ttft_ms : 0,
              MsSince(start));
  };
}

void StreamResponse(ServerState& state, httplib::Response& res, ServerState::Submitted s,
                    StreamHandlers handlers) {
  auto ctx = std::make_shared<StreamContext>();
  ctx->state = &state;
  ctx->s = std::move(s);
  ctx->handlers = std::move(handlers);
  ctx->deadline = absl::Now() + state.flags.request_timeout;
  ctx->last_write = absl::Now();
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [ctx](size_t, httplib::DataSink& sink) {
        if (ctx->finished) {
          sink.done();
          return true;
        }
        std::vector<TokenPiece> pieces;
        const bool ended = ctx->s.sink->Wait(absl::Milliseconds(100), pieces);
        std::string out = pieces.empty() ? "" : ctx->handlers.on_tokens(pieces);
        if (!ended && !ctx->timed_out && absl::Now() > ctx->deadline) {
          ctx->timed_out = true;
          ctx->state->Cancel(ctx->s, "timeout");
        }
        if (ended) {
          absl::Status status;
          const absl::StatusOr<GenerationOutcome>& outcome = ctx->s.sink->outcome();
          if (!outcome.ok()) {
            status = outcome.status();
          } else if (outcome->finish_reason == FinishReason::kCancelled) {
            status = ctx->timed_out ? absl::DeadlineExceededError(
                                          "the request did not finish within "
                                          "--request-timeout")
                                    : absl::UnavailableError(
                                          "the request was cancelled (the server is "
                                          "shutting down)");
          }
          out += ctx->handlers.on_end(*ctx->s.sink, status);
        }
        // An SSE comment now and then, so that a client that went away
        // while its request waits is noticed by the failing write.
        if (out.empty() && absl::Now() - ctx->last_write > absl::Seconds(1)) out = ":\n\n";
        if (!out.empty()) {
          if (!sink.write(out.data(), out.size())) return false;
          ctx->last_write = absl::Now();
        }
        // The end is written: the stream is complete even if the client
        // closes at once, as clients do after [DONE] (checking the socket
        // first logged such streams as 499).
        if (ended) {
          ctx->finished = true;
          sink.done();
          return true;
        }
        if (!sink.is_writable()) return false;
        return true;
      },
      [ctx](bool) {
        if (!ctx->finished) {
          // The client went away: cancel, and wait until the engine has let
          // the request go so that its slot is free and its metrics counted.
          ctx->state->Cancel(ctx->s, "client_disconnected");
          std::vector<TokenPiece> ignored;
          while (!ctx->s.sink->Wait(absl::Milliseconds(200), ignored)) ignored.clear();
        }
        ctx->state->Done(ctx->s.id);
        ctx->handlers.on_release(*ctx->s.sink, ctx->finished);
      });
}

}  // namespace bloom::serve_tool
