#include "runtime/serve/openai_api.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "runtime/serve/api_fields.h"
#include "runtime/support/status_macros.h"

namespace bloom::serve {
namespace {

using OrderedJson = nlohmann::ordered_json;

absl::Status ReadPrompt(const Json& body, CompletionRequest& r) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) return FieldRangeError("prompt", "is required");
  const Json& p = *it;
  if (p.is_string()) {
    r.text_prompt = true;
    r.prompt_text = p.get<std::string>();
    if (r.prompt_text.empty()) return FieldRangeError("prompt", "is empty");
    return absl::OkStatus();
  }
  if (!p.is_array()) return FieldTypeError("prompt", "a string or an array of token ids", p);
  if (!p.empty() && (p[0].is_string() || p[0].is_array())) {
    return FieldRangeError("prompt",
                           "a list of prompts is not supported: send one prompt per request");
  }
  r.text_prompt = false;
  for (const Json& t : p) {
    if (!t.is_number_integer()) return FieldTypeError("prompt", "an array of token ids", p);
    if (t.is_number_unsigned() ? t.get<uint64_t>() > kInt32Max : t.get<int64_t>() < 0) {
      return FieldRangeError("prompt", absl::StrCat("token id ", t.dump(), " is out of range"));
    }
    r.prompt_tokens.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  if (r.prompt_tokens.empty()) return FieldRangeError("prompt", "is empty");
  return absl::OkStatus();
}

// Fields with a single accepted value (features not built): refused unless
// absent, null or that value.
absl::Status RefuseUnsupported(const Json& body) {
  std::optional<int64_t> n, best_of;
  BLOOM_RETURN_IF_ERROR(ReadInt(body, "n", "n", 1, kInt32Max, &n));
  if (n && *n != 1) {
    return FieldRangeError("n", absl::StrCat("only n=1 is supported (one completion per "
                                             "request), got ",
                                             *n));
  }
  BLOOM_RETURN_IF_ERROR(ReadInt(body, "best_of", "best_of", 1, kInt32Max, &best_of));
  if (best_of && *best_of != 1) {
    return FieldRangeError("best_of", absl::StrCat("only best_of=1 is supported, got ", *best_of));
  }
  for (const char* key : {"logprobs", "suffix"}) {
    auto it = body.find(key);
    if (it != body.end() && !it->is_null()) {
      return FieldRangeError(key, "is not supported");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CompletionRequest> ParseCompletionRequest(std::string_view text) {
  BLOOM_ASSIGN_OR_RETURN(Json body, ParseJsonObject(text));
  CompletionRequest r;
  std::optional<std::string> model;
  BLOOM_RETURN_IF_ERROR(ReadString(body, "model", "model", &model));
  if (model) r.model = *model;
  BLOOM_RETURN_IF_ERROR(ReadPrompt(body, r));
  BLOOM_RETURN_IF_ERROR(RefuseUnsupported(body));

  std::optional<int64_t> max_tokens, top_k, seed, min_tokens;
  std::optional<float> temperature, top_p, typical_p, repetition_penalty;
  std::optional<bool> stream, echo, ignore_eos, include_usage;
  BLOOM_RETURN_IF_ERROR(ReadInt(body, "max_tokens", "max_tokens", 1, kMaxTokenCount, &max_tokens));
  BLOOM_RETURN_IF_ERROR(ReadNumber(body, "temperature", "temperature", &temperature));
  BLOOM_RETURN_IF_ERROR(ReadNumber(body, "top_p", "top_p", &top_p));
  // vLLM: -1 (or 0) turns top-k off.
  BLOOM_RETURN_IF_ERROR(ReadInt(body, "top_k", "top_k", -1, kInt32Max, &top_k));
  BLOOM_RETURN_IF_ERROR(ReadNumber(body, "typical_p", "typical_p", &typical_p));
  BLOOM_RETURN_IF_ERROR(
      ReadNumber(body, "repetition_penalty", "repetition_penalty", &repetition_penalty));
  BLOOM_RETURN_IF_ERROR(
      ReadInt(body, "seed", "seed", 0, std::numeric_limits<int64_t>::max(), &seed));
  BLOOM_RETURN_IF_ERROR(ReadStopStrings(body, "stop", "stop", /*allow_single_string=*/true,
                                        /*max_count=*/16, &r.stop));
  BLOOM_RETURN_IF_ERROR(ReadBool(body, "stream", "stream", &stream));
  BLOOM_RETURN_IF_ERROR(ReadBool(body, "echo", "echo", &echo));
  BLOOM_RETURN_IF_ERROR(ReadBool(body, "ignore_eos", "ignore_eos", &ignore_eos));
  BLOOM_RETURN_IF_ERROR(ReadInt(body, "min_tokens", "min_tokens", 0, kMaxTokenCount, &min_tokens));

  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return FieldTypeError("stream_options", "an object", *it);
    BLOOM_RETURN_IF_ERROR(
        ReadBool(*it, "include_usage", "stream_options.include_usage", &include_usage));
    if (!stream.value_or(false)) {
      return FieldRangeError("stream_options", "is only allowed with \"stream\": true");
    }
  }

  r.max_tokens = static_cast<int32_t>(max_tokens.value_or(16));
  r.min_tokens = static_cast<int32_t>(min_tokens.value_or(0));
  if (r.min_tokens > r.max_tokens) {
    return FieldRangeError("min_tokens", absl::StrCat("must be at most max_tokens (", r.max_tokens,
                                                      "), got ", r.min_tokens));
  }
  SamplingParams& s = r.sampling;
  s.temperature = temperature.value_or(1.0f);
  s.do_sample = s.temperature > 0.0f;
  s.top_p = top_p.value_or(1.0f);
  s.top_k = static_cast<int32_t>(top_k.value_or(0) < 0 ? 0 : top_k.value_or(0));
  s.typical_p = typical_p.value_or(1.0f);
  s.repetition_penalty = repetition_penalty.value_or(1.0f);
  r.seed_given = seed.has_value();
  s.seed = static_cast<uint64_t>(seed.value_or(0));
  BLOOM_RETURN_IF_ERROR(ValidateSampling(s, ""));
  r.stream = stream.value_or(false);
  r.include_usage = include_usage.value_or(false);
  r.echo = echo.value_or(false);
  r.ignore_eos = ignore_eos.value_or(false);
  return r;
}

const char* OpenAiFinishReason(FinishReason reason) {
  return reason == FinishReason::kEos || reason == FinishReason::kStop ? "stop" : "length";
}

namespace {

OrderedJson Usage(const CompletionUsage& usage) {
  OrderedJson u;
  u["prompt_tokens"] = usage.prompt_tokens;
  u["completion_tokens"] = usage.completion_tokens;
  u["total_tokens"] = usage.prompt_tokens + usage.completion_tokens;
  return u;
}

OrderedJson Envelope(const std::string& id, int64_t created, const std::string& model) {
  OrderedJson j;
  j["id"] = id;
  j["object"] = "text_completion";
  j["created"] = created;
  j["model"] = model;
  return j;
}

OrderedJson Choice(const std::string& text, const FinishReason* reason) {
  OrderedJson c;
  c["index"] = 0;
  c["text"] = text;
  c["logprobs"] = nullptr;
  c["finish_reason"] = reason == nullptr ? OrderedJson() : OrderedJson(OpenAiFinishReason(*reason));
  return c;
}

}  // namespace

std::string CompletionBody(const std::string& id, int64_t created, const std::string& model,
                           const std::string& text, FinishReason reason,
                           const CompletionUsage& usage) {
  OrderedJson j = Envelope(id, created, model);
  j["choices"] = OrderedJson::array({Choice(text, &reason)});
  j["usage"] = Usage(usage);
  return DumpBody(j);
}

std::string CompletionChunkEvent(const std::string& id, int64_t created, const std::string& model,
                                 const std::string& text, const FinishReason* reason,
                                 bool include_usage) {
  OrderedJson j = Envelope(id, created, model);
  j["choices"] = OrderedJson::array({Choice(text, reason)});
  if (include_usage) j["usage"] = nullptr;
  return absl::StrCat("data: ", DumpBody(j), "\n\n");
}

std::string CompletionUsageEvent(const std::string& id, int64_t created, const std::string& model,
                                 const CompletionUsage& usage) {
  OrderedJson j = Envelope(id, created, model);
  j["choices"] = OrderedJson::array();
  j["usage"] = Usage(usage);
  return absl::StrCat("data: ", DumpBody(j), "\n\n");
}

std::string CompletionDoneEvent() { return "data: [DONE]\n\n"; }

std::string ModelsBody(const std::string& model, int64_t created) {
  OrderedJson m;
  m["id"] = model;
  m["object"] = "model";
  m["created"] = created;
  m["owned_by"] = "bloom";
  OrderedJson j;
  j["object"] = "list";
  j["data"] = OrderedJson::array({m});
  return DumpBody(j);
}

std::string OpenAiErrorBody(const absl::Status& status, const std::string& type) {
  OrderedJson e;
  e["message"] = std::string(status.message());
  e["type"] = type;
  std::optional<std::string> field = ErrorField(status);
  e["param"] = field ? OrderedJson(*field) : OrderedJson();
  e["code"] = nullptr;
  OrderedJson j;
  j["error"] = e;
  return DumpBody(j);
}

}  // namespace bloom::serve
