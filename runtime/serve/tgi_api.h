// text-generation-inference's dialect (POST /generate, /generate_stream):
// the request's "inputs" and "parameters" read into a TgiRequest, and the
// response and stream event bodies with TGI's exact field names. Pure
// functions (the parser is a fuzz target); errors follow api_fields.h (400
// for a wrong type, 422 for a value out of range, one line naming the field,
// "parameters.top_k" for a parameter).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/serve/generation_request.h"
#include "runtime/serve/sampler.h"

namespace bloom::serve {

struct TgiRequest {
  std::string inputs;
  // Absent: as many as fit the plan after the prompt, at most 100.
  std::optional<int32_t> max_new_tokens;
  // Greedy unless do_sample, or a warper (temperature, top_k, top_p,
  // typical_p) is set, as TGI's NextTokenChooser decides.
  SamplingParams sampling;
  bool seed_given = false;
  std::vector<std::string> stop;
  bool details = false;
  bool return_full_text = false;
  // Keep only the last `truncate` tokens of the input.
  std::optional<int32_t> truncate;
};

// Reads a /generate or /generate_stream body. TGI's ranges: temperature and
// repetition_penalty > 0, top_k > 0, top_p and typical_p in (0, 1),
// max_new_tokens and truncate >= 1, at most 4 stop strings; best_of > 1 and
// top_n_tokens are refused (422); unknown parameters are ignored.
absl::StatusOr<TgiRequest> ParseTgiRequest(std::string_view body);

// "length", "eos_token" or "stop_sequence" (cancelled counts as length).
const char* TgiFinishReason(FinishReason reason);

struct TgiToken {
  int32_t id = 0;
  std::string text;
  bool special = false;
  // The engine's log-probability of the token (GenerationOutcome::logprobs);
  // NaN (none computed) is written as null.
  float logprob = std::numeric_limits<float>::quiet_NaN();
};

// How a request ended, for details.
struct TgiDetails {
  FinishReason finish_reason = FinishReason::kLength;
  int64_t generated_tokens = 0;
  std::optional<uint64_t> seed;  // null for greedy requests
};

// /generate's body: {generated_text} and, when `tokens` is given (details
// asked), details{finish_reason, generated_tokens, seed, prefill: [],
// tokens[{id, text, logprob, special}]}.
std::string TgiGenerateBody(const std::string& generated_text, const TgiDetails& details,
                            const std::vector<TgiToken>* tokens);

// One /generate_stream event "data:{json}\n\n": {index (from 1), token,
// top_tokens, generated_text, details}; the last event (`final` given)
// carries generated_text and details{finish_reason, generated_tokens, seed},
// the others null.
std::string TgiStreamEvent(int64_t index, const TgiToken& token, const std::string* generated_text,
                           const TgiDetails* final);

// TGI's error body {"error": message, "error_type": type}.
std::string TgiErrorBody(const absl::Status& status, const std::string& type);

}  // namespace bloom::serve
