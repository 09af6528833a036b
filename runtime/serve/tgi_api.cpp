#include "runtime/serve/tgi_api.h"

#include <cmath>

#include <limits>

#include "absl/strings/str_cat.h"
#include "runtime/serve/api_fields.h"
#include "runtime/support/status_macros.h"

namespace bloom::serve {
namespace {

using OrderedJson = nlohmann::ordered_json;

// TGI's open ranges, checked before ValidateSampling's (wider) ones.
absl::Status CheckPositive(const std::optional<float>& v, const char* field) {
  if (v && !(*v > 0.0f)) {
    return FieldRangeError(field, absl::StrCat("must be strictly positive, got ", *v));
  }
  return absl::OkStatus();
}
absl::Status CheckOpenUnit(const std::optional<float>& v, const char* field) {
  if (v && !(*v > 0.0f && *v < 1.0f)) {
    return FieldRangeError(field, absl::StrCat("must be > 0.0 and < 1.0, got ", *v));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TgiRequest> ParseTgiRequest(std::string_view text) {
  BLOOM_ASSIGN_OR_RETURN(Json body, ParseJsonObject(text));
  TgiRequest r;
  std::optional<std::string> inputs;
  BLOOM_RETURN_IF_ERROR(ReadString(body, "inputs", "inputs", &inputs));
  if (!inputs) return FieldRangeError("inputs", "is required");
  if (inputs->empty()) return FieldRangeError("inputs", "is empty");
  r.inputs = *std::move(inputs);

  Json none = Json::object();
  const Json* p = &none;
  if (auto it = body.find("parameters"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return FieldTypeError("parameters", "an object", *it);
    p = &*it;
  }
  std::optional<int64_t> max_new_tokens, top_k, seed, truncate, best_of, top_n_tokens;
  std::optional<float> temperature, top_p, typical_p, repetition_penalty;
  std::optional<bool> do_sample, details, return_full_text;
  BLOOM_RETURN_IF_ERROR(ReadInt(*p, "max_new_tokens", "parameters.max_new_tokens", 1,
                                kMaxTokenCount, &max_new_tokens));
  BLOOM_RETURN_IF_ERROR(ReadBool(*p, "do_sample", "parameters.do_sample", &do_sample));
  BLOOM_RETURN_IF_ERROR(ReadNumber(*p, "temperature", "parameters.temperature", &temperature));
  BLOOM_RETURN_IF_ERROR(ReadInt(*p, "top_k", "parameters.top_k", 1, kInt32Max, &top_k));
  BLOOM_RETURN_IF_ERROR(ReadNumber(*p, "top_p", "parameters.top_p", &top_p));
  BLOOM_RETURN_IF_ERROR(ReadNumber(*p, "typical_p", "parameters.typical_p", &typical_p));
  BLOOM_RETURN_IF_ERROR(
      ReadNumber(*p, "repetition_penalty", "parameters.repetition_penalty", &repetition_penalty));
  BLOOM_RETURN_IF_ERROR(
      ReadInt(*p, "seed", "parameters.seed", 0, std::numeric_limits<int64_t>::max(), &seed));
  BLOOM_RETURN_IF_ERROR(ReadStopStrings(*p, "stop", "parameters.stop",
                                        /*allow_single_string=*/false, /*max_count=*/4, &r.stop));
  BLOOM_RETURN_IF_ERROR(ReadBool(*p, "details", "parameters.details", &details));
  BLOOM_RETURN_IF_ERROR(
      ReadBool(*p, "return_full_text", "parameters.return_full_text", &return_full_text));
  BLOOM_RETURN_IF_ERROR(
      ReadInt(*p, "truncate", "parameters.truncate", 1, kMaxTokenCount, &truncate));
  BLOOM_RETURN_IF_ERROR(ReadInt(*p, "best_of", "parameters.best_of", 1, kInt32Max, &best_of));
  if (best_of && *best_of != 1) {
    return FieldRangeError("parameters.best_of",
                           absl::StrCat("only best_of=1 is supported, got ", *best_of));
  }
  BLOOM_RETURN_IF_ERROR(
      ReadInt(*p, "top_n_tokens", "parameters.top_n_tokens", 0, kInt32Max, &top_n_tokens));
  if (top_n_tokens && *top_n_tokens != 0) {
    return FieldRangeError("parameters.top_n_tokens", "is not supported");
  }
  BLOOM_RETURN_IF_ERROR(CheckPositive(temperature, "parameters.temperature"));
  BLOOM_RETURN_IF_ERROR(CheckPositive(repetition_penalty, "parameters.repetition_penalty"));
  BLOOM_RETURN_IF_ERROR(CheckOpenUnit(top_p, "parameters.top_p"));
  BLOOM_RETURN_IF_ERROR(CheckOpenUnit(typical_p, "parameters.typical_p"));

  if (max_new_tokens) r.max_new_tokens = static_cast<int32_t>(*max_new_tokens);
  if (truncate) r.truncate = static_cast<int32_t>(*truncate);
  SamplingParams& s = r.sampling;
  s.temperature = temperature.value_or(1.0f);
  s.top_k = static_cast<int32_t>(top_k.value_or(0));
  s.top_p = top_p.value_or(1.0f);
  s.typical_p = typical_p.value_or(1.0f);
  s.repetition_penalty = repetition_penalty.value_or(1.0f);
  const bool has_warpers =
      s.temperature != 1.0f || s.top_k != 0 || s.top_p < 1.0f || s.typical_p < 1.0f;
  s.do_sample = do_sample.value_or(false) || has_warpers;
  r.seed_given = seed.has_value();
  s.seed = static_cast<uint64_t>(seed.value_or(0));
  BLOOM_RETURN_IF_ERROR(ValidateSampling(s, "parameters."));
  r.details = details.value_or(false);
  r.return_full_text = return_full_text.value_or(false);
  return r;
}

const char* TgiFinishReason(FinishReason reason) {
  switch (reason) {
    case FinishReason::kEos:
      return "eos_token";
    case FinishReason::kStop:
      return "stop_sequence";
    default:
      return "length";
  }
}

namespace {

OrderedJson Token(const TgiToken& t) {
  OrderedJson j;
  j["id"] = t.id;
  j["text"] = t.text;
  j["logprob"] = std::isnan(t.logprob) ? OrderedJson() : OrderedJson(t.logprob);
  j["special"] = t.special;
  return j;
}

OrderedJson DetailsHead(const TgiDetails& d) {
  OrderedJson j;
  j["finish_reason"] = TgiFinishReason(d.finish_reason);
  j["generated_tokens"] = d.generated_tokens;
  j["seed"] = d.seed ? OrderedJson(*d.seed) : OrderedJson();
  return j;
}

}  // namespace

std::string TgiGenerateBody(const std::string& generated_text, const TgiDetails& details,
                            const std::vector<TgiToken>* tokens) {
  OrderedJson j;
  j["generated_text"] = generated_text;
  if (tokens != nullptr) {
    OrderedJson d = DetailsHead(details);
    d["prefill"] = OrderedJson::array();
    d["tokens"] = OrderedJson::array();
    for (const TgiToken& t : *tokens) d["tokens"].push_back(Token(t));
    j["details"] = d;
  }
  return DumpBody(j);
}

std::string TgiStreamEvent(int64_t index, const TgiToken& token, const std::string* generated_text,
                           const TgiDetails* final) {
  OrderedJson j;
  j["index"] = index;
  j["token"] = Token(token);
  j["top_tokens"] = nullptr;
  j["generated_text"] = generated_text != nullptr ? OrderedJson(*generated_text) : OrderedJson();
  j["details"] = final != nullptr ? DetailsHead(*final) : OrderedJson();
  return absl::StrCat("data:", DumpBody(j), "\n\n");
}

std::string TgiErrorBody(const absl::Status& status, const std::string& type) {
  OrderedJson j;
  j["error"] = std::string(status.message());
  j["error_type"] = type;
  return DumpBody(j);
}

}  // namespace bloom::serve
