// --input=FILE.jsonl: one request per line, run as one batch, and the JSONL
// results. A request line is a JSON object with
//   "prompt": "text"  or  "tokens": [id, ...]   (exactly one)
// and optionally, under the BLOOM inference server's names,
//   "max_new_tokens", "min_new_tokens", "min_length" (prompt + generated,
//   as transformers counts it), "do_sample", "temperature", "top_k",
//   "top_p", "typical_p", "repetition_penalty", "seed",
//   "stop" (a string or a list of strings), "ignore_eos", "id" (any JSON
//   value, echoed in the result).
// Missing settings come from the command line's flags. Blank lines are
// skipped; anything else that is wrong is one error "FILE:LINE: problem".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "runtime/serve/scheduler.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/serve/generation_defaults.h"

namespace bloom::serve {

struct BatchItem {
  int64_t line = 0;           // 1-based line in the file
  nlohmann::ordered_json id;  // null when the line has none
  bool text_prompt = false;   // "prompt" (text) rather than "tokens"
  std::string prompt_text;
  int32_t min_length = 0;  // "min_length": prompt + generated
  bool truncated = false;
  std::vector<std::string> stop_strings;
  GenerationRequest request;  // prompt ids filled for "tokens" only
};

// Parses every line of `text`; checks types and ranges but not yet the
// prompt's length (text is not encoded yet). Errors are one line,
// "LABEL:LINE: problem". Pure: the libFuzzer entry point.
absl::StatusOr<std::vector<BatchItem>> ParseJsonlRequests(std::string_view text,
                                                          const std::string& label,
                                                          const GenerationDefaults& defaults);

// ParseJsonlRequests on the file at `path` (labelled by it).
absl::StatusOr<std::vector<BatchItem>> ReadJsonlRequests(const std::string& path,
                                                         const GenerationDefaults& defaults);

// Whether any item needs a tokenizer to run ("prompt" or "stop").
bool NeedsTokenizer(const std::vector<BatchItem>& items);

// Encodes text prompts, applies min_length, the end-of-sequence setting
// and the max_seq_len fit (truncating when asked). Errors name FILE:LINE.
absl::Status PrepareRequests(std::vector<BatchItem>& items, const std::string& path,
                             const Tokenizer* tokenizer, int64_t vocab, int32_t max_seq_len,
                             int32_t eos_token_id, bool truncate);

// One result line (no newline): index, id, text (when `text` is given),
// tokens, prompt_tokens, truncated, finish_reason, ttft_ms, total_ms.
std::string ResultLine(size_t index, const BatchItem& item, const GenerationOutcome& outcome,
                       const std::string* text);

}  // namespace bloom::serve
