// libFuzzer target: POST /generate and /generate_stream bodies
// (runtime/serve/tgi_api.h) on arbitrary bytes. It checks the promises: a
// rejection is a 400 or 422 whose one-line message starts with the field it
// names; an accepted request has non-empty inputs, TGI's ranges, at most 4
// non-empty stop strings, and builds bodies that are valid JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "nlohmann/json.hpp"
#include "runtime/serve/api_fields.h"
#include "runtime/serve/tgi_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace bloom::serve;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<TgiRequest> r = ParseTgiRequest(body);
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
  if (r->inputs.empty() || r->stop.size() > 4) std::abort();
  if (r->max_new_tokens && *r->max_new_tokens < 1) std::abort();
  if (r->truncate && *r->truncate < 1) std::abort();
  if (!ValidateSamplingParams(r->sampling).ok() || !(r->sampling.temperature > 0)) std::abort();
  for (const std::string& s : r->stop) {
    if (s.empty()) std::abort();
  }
  const std::vector<TgiToken> tokens = {{1, r->inputs, false}};
  const TgiDetails details{bloom::FinishReason::kLength, 1, r->sampling.seed};
  if (!nlohmann::json::accept(TgiGenerateBody(r->inputs, details, &tokens))) std::abort();
  const std::string event = TgiStreamEvent(1, tokens[0], &r->inputs, &details);
  if (!nlohmann::json::accept(event.substr(5, event.size() - 7))) std::abort();
  return 0;
}
