#include "runtime/serve/jsonl_batch.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "runtime/support/status_macros.h"
#include "runtime/serve/prompts.h"

namespace bloom::serve {
namespace {

using json = nlohmann::ordered_json;

// A field name from the file as JSON ("..." with control characters
// escaped, so the error stays one line), cut after 100 characters.
std::string Quoted(const std::string& key) {
  constexpr size_t kMaxShown = 100;
  std::string shown = json(key.substr(0, kMaxShown)).dump(-1, ' ', false,
                                                          json::error_handler_t::replace);
  if (key.size() > kMaxShown) shown += "...";
  return shown;
}

// Reads one request object's fields into `item`; errors are the problem
// only (the caller adds FILE:LINE).
absl::Status ReadRequest(const json& object, const GenerationDefaults& defaults, BatchItem& item) {
  if (!object.is_object()) return absl::InvalidArgumentError("expected a JSON object");
  GenerationRequest& r = item.request;
  SamplingParams& s = r.sampling;
  s = defaults.sampling;
  r.max_new_tokens = defaults.max_new_tokens;
  r.min_new_tokens = defaults.min_new_tokens;
  bool stop_at_eos = defaults.stop_at_eos;
  item.stop_strings = defaults.stop_strings;
  bool do_sample_given = false, warper_given = false;

  auto bad = [](const std::string& key, const char* expected) {
    return absl::InvalidArgumentError(absl::StrCat("\"", key, "\" must be ", expected));
  };
  auto integer = [&](const std::string& key, const json& v, int64_t lo, int64_t hi,
                     int64_t* out) -> absl::Status {
    if (!v.is_number_integer()) return bad(key, "an integer");
    // nlohmann keeps non-negative integers as unsigned: compare in that type.
    const bool in_range = v.is_number_unsigned()
                              ? v.get<uint64_t>() <= static_cast<uint64_t>(hi) &&
                                    (lo <= 0 || v.get<uint64_t>() >= static_cast<uint64_t>(lo))
                              : v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
    if (!in_range) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", key, "\" must be in [", lo, ", ", hi, "], got ", v.dump()));
    }
    *out = v.get<int64_t>();
    return absl::OkStatus();
  };
  auto number = [&](const std::string& key, const json& v, float* out) -> absl::Status {
    if (!v.is_number()) return bad(key, "a number");
    const double d = v.get<double>();
    if (!std::isfinite(d) || std::fabs(d) > 1e30) return bad(key, "a finite number");
    *out = static_cast<float>(d);
    return absl::OkStatus();
  };
  auto boolean = [&](const std::string& key, const json& v, bool* out) -> absl::Status {
    if (!v.is_boolean()) return bad(key, "true or false");
    *out = v.get<bool>();
    return absl::OkStatus();
  };

  bool has_prompt = false, has_tokens = false;
  for (const auto& [key, v] : object.items()) {
    int64_t i = 0;
    absl::Status st;
    if (key == "prompt") {
      if (!v.is_string()) return bad(key, "a string");
      item.text_prompt = has_prompt = true;
      item.prompt_text = v.get<std::string>();
    } else if (key == "tokens") {
      if (!v.is_array()) return bad(key, "an array of token ids");
      has_tokens = true;
      for (const json& t : v) {
        if (!t.is_number_integer() || t.get<int64_t>() < 0 ||
            t.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
          return absl::InvalidArgumentError(
              absl::StrCat("\"tokens\" holds ", t.dump(), ", not a token id"));
        }
        r.prompt.push_back(static_cast<int32_t>(t.get<int64_t>()));
      }
    } else if (key == "id") {
      item.id = v;
    } else if (key == "max_new_tokens") {
      st = integer(key, v, 1, 1 << 24, &i);
      r.max_new_tokens = static_cast<int32_t>(i);
    } else if (key == "min_new_tokens") {
      st = integer(key, v, 0, 1 << 24, &i);
      r.min_new_tokens = static_cast<int32_t>(i);
    } else if (key == "min_length") {
      st = integer(key, v, 0, 1 << 24, &i);
      item.min_length = static_cast<int32_t>(i);
    } else if (key == "do_sample") {
      st = boolean(key, v, &s.do_sample);
      do_sample_given = true;
    } else if (key == "temperature") {
      st = number(key, v, &s.temperature);
      warper_given = true;
    } else if (key == "top_k") {
      st = integer(key, v, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max(),
                   &i);
      s.top_k = static_cast<int32_t>(i);
      warper_given = true;
    } else if (key == "top_p") {
      st = number(key, v, &s.top_p);
      warper_given = true;
    } else if (key == "typical_p") {
      st = number(key, v, &s.typical_p);
      warper_given = true;
    } else if (key == "repetition_penalty") {
      st = number(key, v, &s.repetition_penalty);
    } else if (key == "seed") {
      st = integer(key, v, 0, std::numeric_limits<int64_t>::max(), &i);
      s.seed = static_cast<uint64_t>(i);
    } else if (key == "stop") {
      item.stop_strings.clear();
      const json list = v.is_string() ? json::array({v}) : v;
      if (!list.is_array()) return bad(key, "a string or a list of strings");
      for (const json& stop : list) {
        if (!stop.is_string() || stop.get<std::string>().empty()) {
          return bad(key, "a non-empty string or a list of them");
        }
        item.stop_strings.push_back(stop.get<std::string>());
      }
    } else if (key == "ignore_eos") {
      bool ignore = false;
      st = boolean(key, v, &ignore);
      stop_at_eos = !ignore;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown field ", Quoted(key)));
    }
    if (!st.ok()) return st;
  }
  if (has_prompt == has_tokens) {
    return absl::InvalidArgumentError("needs exactly one of \"prompt\" (text) or \"tokens\" (ids)");
  }
  if (item.text_prompt && item.prompt_text.empty())
    return absl::InvalidArgumentError("\"prompt\" is empty");
  if (has_tokens && r.prompt.empty()) return absl::InvalidArgumentError("\"tokens\" is empty");
  if (!do_sample_given && !defaults.do_sample_given && warper_given) s.do_sample = true;
  if (r.min_new_tokens > r.max_new_tokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        "min_new_tokens (", r.min_new_tokens, ") exceeds max_new_tokens (", r.max_new_tokens, ")"));
  }
  // -2 marks "stop at the plan's eos" until PrepareRequests knows it.
  r.eos_token_id = stop_at_eos ? -2 : -1;
  return ValidateSamplingParams(s);
}

}  // namespace

absl::StatusOr<std::vector<BatchItem>> ParseJsonlRequests(std::string_view text,
                                                          const std::string& label,
                                                          const GenerationDefaults& defaults) {
  std::vector<BatchItem> items;
  int64_t number = 0;
  for (size_t begin = 0; begin < text.size();) {
    const size_t newline = text.find('\n', begin);
    const size_t end = newline == std::string_view::npos ? text.size() : newline;
    const std::string_view line = text.substr(begin, end - begin);
    begin = end + 1;
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    BatchItem item;
    item.line = number;
    json object;
    try {
      object = json::parse(line);
    } catch (const json::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ":", number, ": not valid JSON (", e.what(), ")"));
    }
    if (absl::Status s = ReadRequest(object, defaults, item); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(label, ":", number, ": ", s.message()));
    }
    items.push_back(std::move(item));
  }
  if (items.empty())
    return absl::InvalidArgumentError(absl::StrCat(label, ": no requests in the file"));
  return items;
}

absl::StatusOr<std::vector<BatchItem>> ReadJsonlRequests(const std::string& path,
                                                         const GenerationDefaults& defaults) {
  if (path.empty()) return absl::InvalidArgumentError("--input: no file named");
  BLOOM_ASSIGN_OR_RETURN(std::string text, ReadAll(path));
  return ParseJsonlRequests(text, path, defaults);
}

bool NeedsTokenizer(const std::vector<BatchItem>& items) {
  for (const BatchItem& item : items) {
    if (item.text_prompt || !item.stop_strings.empty()) return true;
  }
  return false;
}

absl::Status PrepareRequests(std::vector<BatchItem>& items, const std::string& path,
                             const Tokenizer* tokenizer, int64_t vocab, int32_t max_seq_len,
                             int32_t eos_token_id, bool truncate) {
  for (BatchItem& item : items) {
    const std::string where = absl::StrCat(path, ":", item.line);
    GenerationRequest& r = item.request;
    if (item.text_prompt) {
      absl::StatusOr<std::vector<int32_t>> ids = tokenizer->Encode(item.prompt_text);
      if (!ids.ok())
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": \"prompt\": ", ids.status().message()));
      r.prompt = *std::move(ids);
      if (r.prompt.empty())
        return absl::InvalidArgumentError(absl::StrCat(where, ": the prompt encodes to no tokens"));
    }
    for (size_t i = 0; i < r.prompt.size(); ++i) {
      if (r.prompt[i] >= vocab) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": token id ", r.prompt[i], " at index ", i,
                         " is outside the vocabulary [0, ", vocab, ")"));
      }
    }
    const size_t before = r.prompt.size();
    if (absl::Status s = FitPrompt(r.prompt, r.max_new_tokens, max_seq_len, truncate, where);
        !s.ok()) {
      return s;
    }
    item.truncated = r.prompt.size() != before;
    // min_length counts the prompt too (transformers' MinLengthLogitsProcessor).
    const int32_t from_min_length = item.min_length - static_cast<int32_t>(r.prompt.size());
    r.min_new_tokens = std::min(r.max_new_tokens, std::max(r.min_new_tokens, from_min_length));
    r.eos_token_id = r.eos_token_id == -2 ? eos_token_id : -1;
  }
  return absl::OkStatus();
}

std::string ResultLine(size_t index, const BatchItem& item, const GenerationOutcome& outcome,
                       const std::string* text) {
  nlohmann::ordered_json out;
  out["index"] = index;
  if (!item.id.is_null()) out["id"] = item.id;
  if (text != nullptr) out["text"] = *text;
  out["tokens"] = outcome.tokens;
  out["prompt_tokens"] = item.request.prompt.size();
  out["truncated"] = item.truncated;
  out["finish_reason"] = FinishReasonName(outcome.finish_reason);
  out["ttft_ms"] = std::round(outcome.ttft_ms * 1000) / 1000;
  out["total_ms"] = std::round(outcome.total_ms * 1000) / 1000;
  // Decoded text is valid UTF-8 (lossy decode), so dump cannot throw.
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace bloom::serve
