#include "runtime/serve/api_fields.h"

#include <cmath>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace bloom::serve {
namespace {

constexpr char kFieldPayload[] = "bloom.serve/field";

// A value from the request, shown on one line (dump escapes control
// characters) and cut after 60 characters.
std::string Shown(const Json& v) {
  constexpr size_t kMax = 60;
  std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > kMax) s = s.substr(0, kMax) + "...";
  return s;
}

absl::Status WithField(absl::Status status, const std::string& field) {
  status.SetPayload(kFieldPayload, absl::Cord(field));
  return status;
}

// The value at `key` when present and not null.
const Json* Present(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

absl::Status FieldTypeError(const std::string& field, const char* expected, const Json& got) {
  return WithField(
      absl::InvalidArgumentError(absl::StrCat(field, ": must be ", expected, ", got ", Shown(got))),
      field);
}

absl::Status FieldRangeError(const std::string& field, const std::string& problem) {
  return WithField(absl::OutOfRangeError(absl::StrCat(field, ": ", problem)), field);
}

std::optional<std::string> ErrorField(const absl::Status& status) {
  auto field = status.GetPayload(kFieldPayload);
  if (!field) return std::nullopt;
  return std::string(*field);
}

int HttpStatusOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
      return 422;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

absl::StatusOr<Json> ParseJsonObject(std::string_view body) {
  Json object = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) {
    return WithField(absl::InvalidArgumentError("body: not valid JSON"), "body");
  }
  if (!object.is_object()) return FieldTypeError("body", "a JSON object", object);
  return object;
}

absl::Status ReadInt(const Json& object, const char* key, const std::string& field, int64_t lo,
                     int64_t hi, std::optional<int64_t>* out) {
  const Json* v = Present(object, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_number_integer()) return FieldTypeError(field, "an integer", *v);
  // nlohmann keeps non-negative integers as unsigned: compare in that type.
  const bool in_range = v->is_number_unsigned()
                            ? v->get<uint64_t>() <= static_cast<uint64_t>(hi) &&
                                  (lo <= 0 || v->get<uint64_t>() >= static_cast<uint64_t>(lo))
                            : v->get<int64_t>() >= lo && v->get<int64_t>() <= hi;
  if (!in_range) {
    return FieldRangeError(field, absl::StrCat("must be in [", lo, ", ", hi, "], got ", Shown(*v)));
  }
  *out = v->get<int64_t>();
  return absl::OkStatus();
}

absl::Status ReadNumber(const Json& object, const char* key, const std::string& field,
                        std::optional<float>* out) {
  const Json* v = Present(object, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_number()) return FieldTypeError(field, "a number", *v);
  const double d = v->get<double>();
  if (!std::isfinite(d) || std::fabs(d) > 1e30) {
    return FieldRangeError(field, absl::StrCat("must be a finite number, got ", Shown(*v)));
  }
  *out = static_cast<float>(d);
  return absl::OkStatus();
}

absl::Status ReadBool(const Json& object, const char* key, const std::string& field,
                      std::optional<bool>* out) {
  const Json* v = Present(object, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_boolean()) return FieldTypeError(field, "true or false", *v);
  *out = v->get<bool>();
  return absl::OkStatus();
}

absl::Status ReadString(const Json& object, const char* key, const std::string& field,
                        std::optional<std::string>* out) {
  const Json* v = Present(object, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_string()) return FieldTypeError(field, "a string", *v);
  *out = v->get<std::string>();
  return absl::OkStatus();
}

absl::Status ReadStopStrings(const Json& object, const char* key, const std::string& field,
                             bool allow_single_string, size_t max_count,
                             std::vector<std::string>* out) {
  const Json* v = Present(object, key);
  if (v == nullptr) return absl::OkStatus();
  const char* expected =
      allow_single_string ? "a string or a list of strings" : "a list of strings";
  std::vector<std::string> stops;
  if (v->is_string() && allow_single_string) {
    stops.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    for (const Json& s : *v) {
      if (!s.is_string()) return FieldTypeError(field, expected, *v);
      stops.push_back(s.get<std::string>());
    }
  } else {
    return FieldTypeError(field, expected, *v);
  }
  if (stops.size() > max_count) {
    return FieldRangeError(
        field, absl::StrCat("at most ", max_count, " stop strings, got ", stops.size()));
  }
  for (const std::string& s : stops) {
    if (s.empty()) return FieldRangeError(field, "a stop string is empty");
  }
  *out = std::move(stops);
  return absl::OkStatus();
}

absl::Status ValidateSampling(const SamplingParams& params, const std::string& prefix) {
  std::string named;
  absl::Status s = ValidateSamplingParams(params, [&](const char* field) {
    named = absl::StrCat(prefix, field);
    return named;
  });
  if (s.ok()) return s;
  // "top_p must be ..." becomes "top_p: must be ...".
  std::string message(s.message());
  if (message.rfind(named + " ", 0) == 0)
    message = absl::StrCat(named, ":", message.substr(named.size()));
  return WithField(absl::OutOfRangeError(message), named);
}

std::string DumpBody(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace bloom::serve
