#include "models/bloom/config.h"

#include <cmath>
#include <exception>
#include <limits>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "runtime/support/mapped_file.h"
#include "runtime/support/status_macros.h"

namespace bloom::model {
namespace {

using Json = nlohmann::json;

absl::Status ConfigError(absl::string_view label, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(label, ": ", problem));
}

// Reads an integer key that fits in int64; `key` names it in errors.
absl::StatusOr<int64_t> AsInt64(const Json& value, const std::string& key,
                                absl::string_view label) {
  if (value.is_number_unsigned()) {
    uint64_t v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return ConfigError(label, absl::StrCat("'", key, "' is out of range"));
    }
    return static_cast<int64_t>(v);
  }
  if (value.is_number_integer()) return value.get<int64_t>();
  return ConfigError(label, absl::StrCat("'", key, "' must be an integer, got ",
                                         value.type_name()));
}

// A shape-defining size under either of its spellings. Both present is fine
// if they agree (some exports write both); disagreeing would leave the
// model's shape ambiguous.
absl::StatusOr<int64_t> RequiredSize(const Json& root, const std::string& key,
                                     const std::string& alias, absl::string_view label) {
  std::optional<int64_t> from_key, from_alias;
  if (auto it = root.find(key); it != root.end()) {
    BLOOM_ASSIGN_OR_RETURN(from_key, AsInt64(*it, key, label));
  }
  if (!alias.empty()) {
    if (auto it = root.find(alias); it != root.end()) {
      BLOOM_ASSIGN_OR_RETURN(from_alias, AsInt64(*it, alias, label));
    }
  }
  if (!from_key && !from_alias) {
    if (alias.empty()) return ConfigError(label, absl::StrCat("missing key '", key, "'"));
    return ConfigError(label,
                       absl::StrCat("missing key '", key, "' (or '", alias, "')"));
  }
  if (from_key && from_alias && *from_key != *from_alias) {
    return ConfigError(label, absl::StrCat("'", key, "' (", *from_key, ") and '", alias,
                                           "' (", *from_alias, ") disagree"));
  }
  const int64_t value = from_key ? *from_key : *from_alias;
  const std::string& used = from_key ? key : alias;
  if (value <= 0) {
    return ConfigError(label, absl::StrCat("'", used, "' must be positive, got ", value));
  }
  return value;
}

// A token id: absent or null keeps BloomConfig's default.
absl::Status OptionalTokenId(const Json& root, const std::string& key, int64_t vocab_size,
                             absl::string_view label, int64_t* out) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return absl::OkStatus();
  BLOOM_ASSIGN_OR_RETURN(int64_t id, AsInt64(*it, key, label));
  if (id < 0 || id >= vocab_size) {
    return ConfigError(label, absl::StrCat("'", key, "' ", id, " is outside the vocabulary [0, ",
                                           vocab_size, ")"));
  }
  *out = id;
  return absl::OkStatus();
}

absl::StatusOr<BloomConfig> ParseRoot(const Json& root, absl::string_view label) {
  if (!root.is_object()) {
    return ConfigError(label, absl::StrCat("must be a JSON object, got ", root.type_name()));
  }
  if (auto it = root.find("model_type"); it != root.end()) {
    if (!it->is_string() || it->get_ref<const std::string&>() != "bloom") {
      return ConfigError(label, absl::StrCat("'model_type' must be \"bloom\", got ",
                                             it->is_string() ? "\"" + it->get<std::string>() + "\""
                                                             : std::string(it->type_name())));
    }
  }

  BloomConfig config;
  BLOOM_ASSIGN_OR_RETURN(config.vocab_size, RequiredSize(root, "vocab_size", "", label));
  BLOOM_ASSIGN_OR_RETURN(config.hidden_size, RequiredSize(root, "hidden_size", "n_embed", label));
  BLOOM_ASSIGN_OR_RETURN(config.num_heads,
                         RequiredSize(root, "num_attention_heads", "n_head", label));
  BLOOM_ASSIGN_OR_RETURN(config.num_layers,
                         RequiredSize(root, "num_hidden_layers", "n_layer", label));
  if (config.hidden_size % config.num_heads != 0) {
    return ConfigError(label, absl::StrCat("hidden size ", config.hidden_size,
                                           " is not divisible by the number of heads ",
                                           config.num_heads));
  }

  if (auto it = root.find("layer_norm_epsilon"); it != root.end()) {
    if (!it->is_number()) {
      return ConfigError(label, absl::StrCat("'layer_norm_epsilon' must be a number, got ",
                                             it->type_name()));
    }
    const double epsilon = it->get<double>();
    if (!(epsilon > 0) || !std::isfinite(epsilon)) {
      return ConfigError(label, absl::StrCat("'layer_norm_epsilon' must be positive and finite, got ",
                                             epsilon));
    }
    config.layer_norm_epsilon = epsilon;
  }

  if (auto it = root.find("apply_residual_connection_post_layernorm"); it != root.end()) {
    if (!it->is_boolean()) {
      return ConfigError(label,
                         absl::StrCat("'apply_residual_connection_post_layernorm' must be a "
                                      "boolean, got ", it->type_name()));
    }
    config.apply_residual_connection_post_layernorm = it->get<bool>();
  }

  BLOOM_RETURN_IF_ERROR(
      OptionalTokenId(root, "bos_token_id", config.vocab_size, label, &config.bos_token_id));
  BLOOM_RETURN_IF_ERROR(
      OptionalTokenId(root, "eos_token_id", config.vocab_size, label, &config.eos_token_id));
  BLOOM_RETURN_IF_ERROR(
      OptionalTokenId(root, "pad_token_id", config.vocab_size, label, &config.pad_token_id));
  return config;
}

}  // namespace

absl::StatusOr<BloomConfig> ParseBloomConfig(std::string_view json_text,
                                             std::string_view label) {
  // Non-throwing parse, and a try block for what remains (allocation
  // failure): no exception may leave the library.
  try {
    Json root = Json::parse(json_text.begin(), json_text.end(), nullptr,
                            /*allow_exceptions=*/false);
    const absl::string_view label_view(label.data(), label.size());
    if (root.is_discarded()) return ConfigError(label_view, "malformed JSON");
    return ParseRoot(root, label_view);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat(absl::string_view(label.data(), label.size()), ": unexpected error: ",
                     e.what()));
  }
}

absl::StatusOr<BloomConfig> LoadBloomConfig(const std::string& path) {
  BLOOM_ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  std::string_view text;
  if (file.size() > 0) text = {reinterpret_cast<const char*>(file.data()), file.size()};
  return ParseBloomConfig(text, path);
}

}  // namespace bloom::model
