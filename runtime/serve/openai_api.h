// The OpenAI completions dialect (POST /v1/completions, GET /v1/models), as
// vLLM and llama.cpp's server speak it: the request's fields read into a
// CompletionRequest, and the response, stream chunk and error bodies with
// OpenAI's exact field names. Pure functions of their inputs (the parser is
// the fuzz target); errors follow api_fields.h (400 for a wrong type, 422
// for a value out of range, one line naming the field).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/serve/generation_request.h"
#include "runtime/serve/sampler.h"

namespace bloom::serve {

struct CompletionRequest {
  std::string model;  // empty when absent
  // "prompt": a string, or an array of token ids.
  bool text_prompt = true;
  std::string prompt_text;
  std::vector<int32_t> prompt_tokens;
  int32_t max_tokens = 16;
  // Sampling unless temperature is 0 (OpenAI's default temperature is 1).
  SamplingParams sampling;
  bool seed_given = false;  // without "seed" the server draws one
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;  // "stream_options": {"include_usage": true}
  bool echo = false;
  // vLLM's extras: generate past the end-of-sequence token; a minimum length.
  bool ignore_eos = false;
  int32_t min_tokens = 0;
};

// Reads a /v1/completions body. "n" and "best_of" other than 1, "logprobs",
// "suffix" and a list of prompts are refused (422); other unknown fields are
// ignored, as OpenAI does.
absl::StatusOr<CompletionRequest> ParseCompletionRequest(std::string_view body);

// OpenAI's finish_reason: "stop" (end-of-sequence token or stop string),
// "length" (max_tokens, or cancelled).
const char* OpenAiFinishReason(FinishReason reason);

struct CompletionUsage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

// The non-streamed response: {id, object: "text_completion", created, model,
// choices: [{index, text, logprobs, finish_reason}], usage}.
std::string CompletionBody(const std::string& id, int64_t created, const std::string& model,
                           const std::string& text, FinishReason reason,
                           const CompletionUsage& usage);

// One SSE event "data: {json}\n\n" of a stream: a piece of text (finish_reason
// null until `reason` is given on the last). With include_usage every chunk
// has "usage": null.
std::string CompletionChunkEvent(const std::string& id, int64_t created, const std::string& model,
                                 const std::string& text, const FinishReason* reason,
                                 bool include_usage);
// The usage chunk sent before [DONE] under include_usage: "choices": [].
std::string CompletionUsageEvent(const std::string& id, int64_t created, const std::string& model,
                                 const CompletionUsage& usage);
// "data: [DONE]\n\n".
std::string CompletionDoneEvent();

// GET /v1/models: {object: "list", data: [{id, object: "model", created, owned_by}]}.
std::string ModelsBody(const std::string& model, int64_t created);

// OpenAI's error body {"error": {"message", "type", "param", "code"}};
// "param" is the field the error names (api_fields.h ErrorField).
std::string OpenAiErrorBody(const absl::Status& status, const std::string& type);

}  // namespace bloom::serve
