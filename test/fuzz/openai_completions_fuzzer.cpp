// libFuzzer target: POST /v1/completions bodies (runtime/serve/openai_api.h)
// on arbitrary bytes. Beyond "no crash, no sanitizer report", it checks the
// promises: a rejection is a 400 or 422 whose one-line message starts with
// the field it names; an accepted request has a non-empty prompt, settings
// in range, and builds response bodies that are valid JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "nlohmann/json.hpp"
#include "runtime/serve/api_fields.h"
#include "runtime/serve/openai_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace bloom::serve;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<CompletionRequest> r = ParseCompletionRequest(body);
  if (!r.ok()) {
    const int http = HttpStatusOf(r.status());
    const std::string message(r.status().message());
    const std::optional<std::string> field = ErrorField(r.status());
    if ((http != 400 && http != 422) || !field || message.find('\n') != std::string::npos ||
        message.rfind(*field + ":", 0) != 0) {
      std::abort();
    }
    return 0;
  }
  if (r->text_prompt ? r->prompt_text.empty() : r->prompt_tokens.empty()) std::abort();
  if (r->max_tokens < 1 || r->min_tokens > r->max_tokens) std::abort();
  if (!ValidateSamplingParams(r->sampling).ok()) std::abort();
  for (const std::string& s : r->stop) {
    if (s.empty()) std::abort();
  }
  if (r->include_usage && !r->stream) std::abort();
  // Echoed text from the request must still give valid JSON bodies.
  const CompletionUsage usage{1, 1};
  const std::string text = r->text_prompt ? r->prompt_text : "";
  if (!nlohmann::json::accept(CompletionBody("id", 0, r->model, text, bloom::FinishReason::kStop, usage)))
    std::abort();
  const std::string chunk = CompletionChunkEvent("id", 0, r->model, text, nullptr, true);
  if (!nlohmann::json::accept(chunk.substr(6, chunk.size() - 8))) std::abort();
  return 0;
}
