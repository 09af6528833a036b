// POST /v1/completions: OpenAI's completions over the engine, streamed as
// Server-Sent Events when "stream" is true.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/serve/api_fields.h"
#include "runtime/serve/openai_api.h"
#include "tools/bloom-serve/http_routes.h"

namespace bloom::serve_tool {
namespace {

using serve::CompletionRequest;

std::string ErrorBody(const absl::Status& status) {
  const int http = serve::HttpStatusOf(status);
  return serve::OpenAiErrorBody(
      status, http == 400 || http == 422 ? "invalid_request_error" : ErrorType(status));
}

absl::StatusOr<PreparedRequest> Prepare(ServerState& state, const CompletionRequest& c) {
  if (!c.model.empty() && c.model != state.flags.model_name) {
    return absl::NotFoundError(absl::StrCat(
        "model: '", c.model, "' is not served here (it serves '", state.flags.model_name, "')"));
  }
  absl::StatusOr<PreparedRequest> p =
      PrepareRequest(state, "prompt", c.text_prompt ? &c.prompt_text : nullptr,
                     c.text_prompt ? nullptr : &c.prompt_tokens, c.max_tokens, std::nullopt);
  if (!p.ok()) return p.status();
  GenerationRequest& r = p->request;
  r.sampling = c.sampling;
  if (!c.seed_given && r.sampling.do_sample) r.sampling.seed = state.DrawSeed();
  r.min_new_tokens = std::min(c.min_tokens, r.max_new_tokens);
  if (c.ignore_eos) r.eos_token_id = -1;
  p->stop = c.stop;
  return p;
}

void Complete(ServerState& state, const httplib::Request& req, httplib::Response& res) {
  const absl::Time start = absl::Now();
  absl::StatusOr<CompletionRequest> parsed = serve::ParseCompletionRequest(req.body);
  absl::StatusOr<PreparedRequest> prepared =
      parsed.ok() ? Prepare(state, *parsed) : absl::StatusOr<PreparedRequest>(parsed.status());
  if (!prepared.ok()) {
    return SendRefused(state, req, res, prepared.status(), ErrorBody(prepared.status()), start);
  }
  const std::string prompt_text = prepared->prompt_text;
  const int64_t prompt_tokens = prepared->request.prompt.size();
  absl::StatusOr<ServerState::Submitted> s = state.Submit(*std::move(prepared));
  if (!s.ok()) return SendError(req, res, s.status(), ErrorBody(s.status()), start);
  const std::string id = absl::StrFormat("cmpl-%016x", s->id);
  const int64_t created = absl::ToUnixSeconds(absl::Now());
  const std::string& model = state.flags.model_name;
  const bool echo = parsed->echo;

  if (!parsed->stream) {
    std::vector<TokenPiece> tokens;
    absl::Status status = AwaitEnd(state, *s, tokens);
    if (!status.ok()) return SendError(req, res, status, ErrorBody(status), start);
    const GenerationOutcome& o = *s->sink->outcome();
    const int64_t generated = o.tokens.size();
    SendJson(res, 200,
             serve::CompletionBody(id, created, model, (echo ? prompt_text : "") + s->sink->text(),
                                   o.finish_reason, {prompt_tokens, generated}));
    return AccessLog(req.method, req.path, 200, prompt_tokens, generated, o.ttft_ms,
                     MsSince(start));
  }
  const bool include_usage = parsed->include_usage;
  StreamHandlers h;
  auto echoed = std::make_shared<bool>(!echo);
  h.on_tokens = [=](const std::vector<TokenPiece>& pieces) {
    std::string text = *echoed ? "" : prompt_text;
    *echoed = true;
    for (const TokenPiece& p : pieces) text += p.text;
    if (text.empty()) return std::string();
    return serve::CompletionChunkEvent(id, created, model, text, nullptr, include_usage);
  };
  h.on_end = [=](const StreamingSink& sink, const absl::Status& status) {
    if (!status.ok()) {
      return absl::StrCat("data: ", ErrorBody(status), "\n\n", serve::CompletionDoneEvent());
    }
    const GenerationOutcome& o = *sink.outcome();
    std::string text = *echoed ? "" : prompt_text;
    *echoed = true;
    std::string out = serve::CompletionChunkEvent(id, created, model, text + sink.tail_text(),
                                                  &o.finish_reason, include_usage);
    if (include_usage) {
      out += serve::CompletionUsageEvent(id, created, model,
                                         {prompt_tokens, static_cast<int64_t>(o.tokens.size())});
    }
    return out + serve::CompletionDoneEvent();
  };
  h.on_release = StreamAccessLog(req, prompt_tokens, start);
  StreamResponse(state, res, *std::move(s), std::move(h));
}

}  // namespace

void AddOpenAiRoutes(httplib::Server& server, ServerState& state) {
  server.Post("/v1/completions", [&state](const httplib::Request& req, httplib::Response& res) {
    Complete(state, req, res);
  });
}

}  // namespace bloom::serve_tool
