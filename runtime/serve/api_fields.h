// What both HTTP dialects (openai_api.h, tgi_api.h) share when they read a
// request body: the JSON object, typed reads of its optional fields, their
// bounds, and one error policy (and, for their replies, the body's text). A wrong JSON type is
// InvalidArgument (HTTP 400), a value out of range OutOfRange (HTTP 422); every error is one line
// that starts with the field's name, and carries that name as a payload for the OpenAI error's
// "param". A field that is absent or null keeps its default.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "runtime/serve/sampler.h"

namespace bloom::serve {

using Json = nlohmann::json;

// "FIELD: must be EXPECTED, got VALUE" (InvalidArgument: HTTP 400).
absl::Status FieldTypeError(const std::string& field, const char* expected, const Json& got);
// "FIELD: PROBLEM" (OutOfRange: HTTP 422).
absl::Status FieldRangeError(const std::string& field, const std::string& problem);
// The field an error names, when it names one.
std::optional<std::string> ErrorField(const absl::Status& status);

// The HTTP status of an error: InvalidArgument 400, OutOfRange and
// FailedPrecondition 422, ResourceExhausted 429, Unavailable 503,
// DeadlineExceeded 504, anything else 500.
int HttpStatusOf(const absl::Status& status);

// The body as a JSON object; malformed JSON or another type is a 400.
absl::StatusOr<Json> ParseJsonObject(std::string_view body);

// Typed reads of `object[key]`, reported as `field` (a dotted path such as
// "parameters.top_k"). Each leaves `out` alone when the key is absent or null.
absl::Status ReadInt(const Json& object, const char* key, const std::string& field, int64_t lo,
                     int64_t hi, std::optional<int64_t>* out);
absl::Status ReadNumber(const Json& object, const char* key, const std::string& field,
                        std::optional<float>* out);
absl::Status ReadBool(const Json& object, const char* key, const std::string& field,
                      std::optional<bool>* out);
absl::Status ReadString(const Json& object, const char* key, const std::string& field,
                        std::optional<std::string>* out);
// A string or a list of non-empty strings, at most `max_count` of them.
absl::Status ReadStopStrings(const Json& object, const char* key, const std::string& field,
                             bool allow_single_string, size_t max_count,
                             std::vector<std::string>* out);

// The bounds both dialects put on integer fields: a count of tokens
// (max_tokens, max_new_tokens, truncate, min_tokens) and any other count.
inline constexpr int64_t kMaxTokenCount = 1 << 24;
inline constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

// A response body's text in both dialects: compact JSON, with invalid UTF-8
// (possible only through lossy decoding) replaced instead of thrown on.
std::string DumpBody(const nlohmann::ordered_json& j);

// ValidateSamplingParams with its fields spelled `prefix` + name, as an
// OutOfRange error naming the field.
absl::Status ValidateSampling(const SamplingParams& params, const std::string& prefix);

}  // namespace bloom::serve
