// POST /generate and /generate_stream: text-generation-inference's API over
// the engine. A stream's last event must carry the last token together with
// generated_text and details, so each token's event waits until the next
// token (or the end) arrives.
#include "absl/strings/str_cat.h"
#include "runtime/serve/api_fields.h"
#include "runtime/serve/tgi_api.h"
#include "tools/bloom-serve/http_routes.h"

namespace bloom::serve_tool {
namespace {

using serve::TgiRequest;
using serve::TgiToken;

std::string ErrorBody(const absl::Status& status) {
  return serve::TgiErrorBody(status, ErrorType(status));
}

struct Parsed {
  TgiRequest tgi;
  PreparedRequest prepared;
};

absl::StatusOr<Parsed> Parse(ServerState& state, const std::string& body) {
  absl::StatusOr<TgiRequest> tgi = serve::ParseTgiRequest(body);
  if (!tgi.ok()) return tgi.status();
  absl::StatusOr<PreparedRequest> p =
      PrepareRequest(state, "inputs", &tgi->inputs, nullptr, tgi->max_new_tokens, tgi->truncate);
  if (!p.ok()) return p.status();
  p->request.sampling = tgi->sampling;
  if (!tgi->seed_given && tgi->sampling.do_sample) p->request.sampling.seed = state.DrawSeed();
  p->stop = tgi->stop;
  return Parsed{*std::move(tgi), *std::move(p)};
}

serve::TgiDetails DetailsOf(const GenerationOutcome& o, const SamplingParams& sampling) {
  serve::TgiDetails d;
  d.finish_reason = o.finish_reason;
  d.generated_tokens = o.tokens.size();
  if (sampling.do_sample) d.seed = sampling.seed;
  return d;
}

TgiToken ToTgi(const TokenPiece& p) { return {p.id, p.text, p.special, p.logprob}; }

void Generate(ServerState& state, const httplib::Request& req, httplib::Response& res,
              bool stream) {
  const absl::Time start = absl::Now();
  absl::StatusOr<Parsed> parsed = Parse(state, req.body);
  if (!parsed.ok()) {
    return SendRefused(state, req, res, parsed.status(), ErrorBody(parsed.status()), start);
  }
  const SamplingParams sampling = parsed->prepared.request.sampling;
  const int64_t prompt_tokens = parsed->prepared.request.prompt.size();
  const std::string prefix = parsed->tgi.return_full_text ? parsed->tgi.inputs : "";
  const bool details = parsed->tgi.details;
  absl::StatusOr<ServerState::Submitted> s = state.Submit(std::move(parsed->prepared));
  if (!s.ok()) return SendError(req, res, s.status(), ErrorBody(s.status()), start);

  if (!stream) {
    std::vector<TokenPiece> pieces;
    absl::Status status = AwaitEnd(state, *s, pieces);
    if (!status.ok()) return SendError(req, res, status, ErrorBody(status), start);
    const GenerationOutcome& o = *s->sink->outcome();
    std::vector<TgiToken> tokens;
    for (const TokenPiece& p : pieces) tokens.push_back(ToTgi(p));
    SendJson(res, 200,
             serve::TgiGenerateBody(prefix + s->sink->text(), DetailsOf(o, sampling),
                                    details ? &tokens : nullptr));
    return AccessLog(req.method, req.path, 200, prompt_tokens, o.tokens.size(), o.ttft_ms,
                     MsSince(start));
  }
  struct Held {
    std::optional<TokenPiece> last;
    int64_t index = 0;
  };
  auto held = std::make_shared<Held>();
  StreamHandlers h;
  h.on_tokens = [held](const std::vector<TokenPiece>& pieces) {
    std::string out;
    for (const TokenPiece& p : pieces) {
      if (held->last) {
        out += serve::TgiStreamEvent(++held->index, ToTgi(*held->last), nullptr, nullptr);
      }
      held->last = p;
    }
    return out;
  };
  h.on_end = [held, prefix, sampling](const StreamingSink& sink, const absl::Status& status) {
    if (!status.ok() || !held->last) {
      const absl::Status error =
          status.ok() ? absl::InternalError("the request ended without a token") : status;
      return absl::StrCat("data:", ErrorBody(error), "\n\n");
    }
    const GenerationOutcome& o = *sink.outcome();
    TokenPiece last = *held->last;
    last.text += sink.tail_text();
    const std::string text = prefix + sink.text();
    const serve::TgiDetails d = DetailsOf(o, sampling);
    return serve::TgiStreamEvent(++held->index, ToTgi(last), &text, &d);
  };
  h.on_release = StreamAccessLog(req, prompt_tokens, start);
  StreamResponse(state, res, *std::move(s), std::move(h));
}

}  // namespace

void AddTgiRoutes(httplib::Server& server, ServerState& state) {
  server.Post("/generate", [&state](const httplib::Request& req, httplib::Response& res) {
    Generate(state, req, res, /*stream=*/false);
  });
  server.Post("/generate_stream", [&state](const httplib::Request& req, httplib::Response& res) {
    Generate(state, req, res, /*stream=*/true);
  });
}

}  // namespace bloom::serve_tool
