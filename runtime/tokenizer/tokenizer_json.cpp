#include "runtime/tokenizer/tokenizer_json.h"

#include <exception>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "runtime/support/mapped_file.h"
#include "runtime/support/status_macros.h"
#include "runtime/tokenizer/pre_tokenizer.h"

namespace bloom::tokenizer {
namespace {

using Json = nlohmann::json;

// Everything below reports through these two, so every message is
// "LABEL: FIELD: problem" on one line.
absl::Status Invalid(absl::string_view label, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(label, ": ", what));
}
absl::Status Unsupported(absl::string_view label, absl::string_view what) {
  return absl::UnimplementedError(absl::StrCat(label, ": ", what));
}

// A short one-line rendering of a JSON value for messages.
std::string Show(const Json& value) {
  std::string s = value.dump(-1, ' ', /*ensure_ascii=*/false,
                             Json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

const Json* Member(const Json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

bool IsNullOrAbsent(const Json* value) { return value == nullptr || value->is_null(); }

// Reads an optional boolean member; absent or null gives `fallback`.
absl::Status OptionalBool(const Json& object, const char* key, bool fallback,
                          absl::string_view label, absl::string_view where, bool* out) {
  const Json* v = Member(object, key);
  if (IsNullOrAbsent(v)) {
    *out = fallback;
    return absl::OkStatus();
  }
  if (!v->is_boolean()) {
    return Invalid(label, absl::StrCat(where, ".", key, ": expected true or false, found ",
                                       Show(*v)));
  }
  *out = v->get<bool>();
  return absl::OkStatus();
}

bool HasType(const Json& value, const char* type) {
  if (!value.is_object()) return false;
  const Json* t = Member(value, "type");
  return t != nullptr && t->is_string() && t->get<std::string>() == type;
}

// Bool member equal to `expected` (absent counts as `fallback`).
bool BoolIs(const Json& object, const char* key, bool fallback, bool expected) {
  const Json* v = Member(object, key);
  if (IsNullOrAbsent(v)) return fallback == expected;
  return v->is_boolean() && v->get<bool>() == expected;
}

absl::Status CheckPreTokenizer(const Json& root, absl::string_view label) {
  const std::string expected = absl::StrCat(
      "expected BLOOM's Sequence of Split(Regex \"", kBloomSplitRegex,
      "\", behavior Isolated, invert false) then ByteLevel(add_prefix_space false, "
      "use_regex false)");
  const Json* pt = Member(root, "pre_tokenizer");
  if (IsNullOrAbsent(pt)) return Unsupported(label, absl::StrCat("pre_tokenizer is null; ", expected));
  const auto mismatch = [&](absl::string_view what, const Json& found) {
    return Unsupported(label, absl::StrCat("pre_tokenizer: ", what, " is ", Show(found),
                                           "; ", expected));
  };
  if (!HasType(*pt, "Sequence")) return mismatch("the pre-tokenizer", *pt);
  const Json* list = Member(*pt, "pretokenizers");
  if (list == nullptr || !list->is_array() || list->size() != 2) {
    return mismatch("pretokenizers", list ? *list : Json());
  }
  const Json& split = (*list)[0];
  if (!HasType(split, "Split")) return mismatch("pretokenizers[0]", split);
  const Json* pattern = Member(split, "pattern");
  const Json* regex = pattern && pattern->is_object() ? Member(*pattern, "Regex") : nullptr;
  if (regex == nullptr || !regex->is_string() ||
      regex->get<std::string>() != std::string(kBloomSplitRegex)) {
    return mismatch("the Split pattern", pattern ? *pattern : Json());
  }
  const Json* behavior = Member(split, "behavior");
  if (behavior == nullptr || !behavior->is_string() ||
      behavior->get<std::string>() != "Isolated") {
    return mismatch("the Split behavior", behavior ? *behavior : Json());
  }
  if (!BoolIs(split, "invert", false, false)) return mismatch("the Split invert", split);
  const Json& byte_level = (*list)[1];
  if (!HasType(byte_level, "ByteLevel") || !BoolIs(byte_level, "add_prefix_space", true, false) ||
      !BoolIs(byte_level, "use_regex", true, false)) {
    return mismatch("pretokenizers[1]", byte_level);
  }
  return absl::OkStatus();
}

absl::Status CheckPipeline(const Json& root, absl::string_view label) {
  const Json* normalizer = Member(root, "normalizer");
  if (!IsNullOrAbsent(normalizer)) {
    return Unsupported(label, absl::StrCat("normalizer is ", Show(*normalizer),
                                           "; BLOOM's tokenizer has none (null)"));
  }
  for (const char* key : {"truncation", "padding"}) {
    const Json* v = Member(root, key);
    if (!IsNullOrAbsent(v)) {
      return Unsupported(label, absl::StrCat(key, " is ", Show(*v),
                                             "; expected null (callers truncate and pad)"));
    }
  }
  BLOOM_RETURN_IF_ERROR(CheckPreTokenizer(root, label));
  const Json* post = Member(root, "post_processor");
  if (!IsNullOrAbsent(post) && !HasType(*post, "ByteLevel")) {
    return Unsupported(label, absl::StrCat("post_processor is ", Show(*post),
                                           "; expected null or ByteLevel (which adds no tokens)"));
  }
  const Json* decoder = Member(root, "decoder");
  if (decoder == nullptr || !HasType(*decoder, "ByteLevel")) {
    return Unsupported(label, absl::StrCat("decoder is ", decoder ? Show(*decoder) : "absent",
                                           "; expected ByteLevel"));
  }
  return absl::OkStatus();
}

absl::Status ParseVocab(const Json& model, absl::string_view label, TokenizerJson* out) {
  const Json* vocab = Member(model, "vocab");
  if (vocab == nullptr || !vocab->is_object()) {
    return Invalid(label, absl::StrCat("model.vocab: expected an object of token -> id, found ",
                                       vocab ? Show(*vocab) : "nothing"));
  }
  const int64_t size = static_cast<int64_t>(vocab->size());
  std::vector<const std::string*> by_id(vocab->size(), nullptr);
  out->vocab.reserve(vocab->size());
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    const Json& id_json = it.value();
    if (!id_json.is_number_integer()) {
      return Invalid(label, absl::StrCat("model.vocab['", it.key(),
                                         "']: expected an integer id, found ", Show(id_json)));
    }
    const int64_t id = id_json.get<int64_t>();
    if (id < 0 || id >= size) {
      return Invalid(label, absl::StrCat("model.vocab['", it.key(), "']: id ", id,
                                         " is out of range [0, ", size,
                                         ") (ids must number the vocab densely)"));
    }
    if (by_id[id] != nullptr) {
      return Invalid(label, absl::StrCat("model.vocab: tokens '", *by_id[id], "' and '",
                                         it.key(), "' have the same id ", id));
    }
    by_id[id] = &it.key();
    out->vocab.emplace(it.key(), static_cast<int32_t>(id));
  }
  return absl::OkStatus();
}

absl::Status ParseMerges(const Json& model, absl::string_view label, TokenizerJson* out) {
  const Json* merges = Member(model, "merges");
  if (merges == nullptr || !merges->is_array()) {
    return Invalid(label, absl::StrCat("model.merges: expected an array, found ",
                                       merges ? Show(*merges) : "nothing"));
  }
  out->merges.reserve(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) {
    const Json& m = (*merges)[i];
    if (m.is_string()) {
      // Legacy form "left right": exactly one space, as tokenizers requires
      // (a "#version" header line is skipped, as there).
      const std::string line = m.get<std::string>();
      if (absl::StartsWith(line, "#version")) continue;
      std::vector<std::string> parts = absl::StrSplit(line, ' ');
      if (parts.size() != 2) {
        return Invalid(label, absl::StrCat("model.merges[", i, "]: expected \"left right\" ",
                                           "(two tokens, one space), found ", Show(m)));
      }
      out->merges.emplace_back(std::move(parts[0]), std::move(parts[1]));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      out->merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      return Invalid(label, absl::StrCat("model.merges[", i,
                                         "]: expected \"left right\" or [\"left\", \"right\"], "
                                         "found ", Show(m)));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseModel(const Json& root, absl::string_view label, TokenizerJson* out) {
  const Json* model = Member(root, "model");
  if (model == nullptr || !model->is_object()) {
    return Invalid(label, absl::StrCat("model: expected an object, found ",
                                       model ? Show(*model) : "nothing"));
  }
  const Json* type = Member(*model, "type");
  if (type != nullptr && !(type->is_string() && type->get<std::string>() == "BPE")) {
    return Unsupported(label, absl::StrCat("model.type is ", Show(*type),
                                           "; only BPE (BLOOM's model) is supported"));
  }
  const Json* dropout = Member(*model, "dropout");
  if (!IsNullOrAbsent(dropout) && !(dropout->is_number() && dropout->get<double>() == 0.0)) {
    return Unsupported(label, absl::StrCat("model.dropout is ", Show(*dropout),
                                           "; BPE dropout (random merges) is not supported"));
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const Json* v = Member(*model, key);
    if (!IsNullOrAbsent(v) && !(v->is_string() && v->get<std::string>().empty())) {
      return Unsupported(label, absl::StrCat("model.", key, " is ", Show(*v),
                                             "; expected null (byte-level BPE has none)"));
    }
  }
  bool byte_fallback = false;
  BLOOM_RETURN_IF_ERROR(OptionalBool(*model, "byte_fallback", false, label, "model",
                                     &byte_fallback));
  if (byte_fallback) {
    return Unsupported(label, "model.byte_fallback is true; byte-level BPE does not use it");
  }
  BLOOM_RETURN_IF_ERROR(OptionalBool(*model, "fuse_unk", false, label, "model",
                                     &out->bpe_options.fuse_unk));
  BLOOM_RETURN_IF_ERROR(OptionalBool(*model, "ignore_merges", false, label, "model",
                                     &out->bpe_options.ignore_merges));
  const Json* unk = Member(*model, "unk_token");
  if (!IsNullOrAbsent(unk)) {
    if (!unk->is_string()) {
      return Invalid(label, absl::StrCat("model.unk_token: expected a string or null, found ",
                                         Show(*unk)));
    }
    out->bpe_options.unk_token = unk->get<std::string>();
  }
  BLOOM_RETURN_IF_ERROR(ParseVocab(*model, label, out));
  return ParseMerges(*model, label, out);
}

absl::Status ParseAddedTokens(const Json& root, absl::string_view label, TokenizerJson* out) {
  const Json* list = Member(root, "added_tokens");
  if (IsNullOrAbsent(list)) return absl::OkStatus();
  if (!list->is_array()) {
    return Invalid(label, absl::StrCat("added_tokens: expected an array, found ", Show(*list)));
  }
  int64_t next_new_id = static_cast<int64_t>(out->vocab.size());
  absl::flat_hash_set<std::string> seen;
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& entry = (*list)[i];
    const std::string where = absl::StrCat("added_tokens[", i, "]");
    if (!entry.is_object()) {
      return Invalid(label, absl::StrCat(where, ": expected an object, found ", Show(entry)));
    }
    const Json* content = Member(entry, "content");
    if (content == nullptr || !content->is_string() || content->get<std::string>().empty()) {
      return Invalid(label, absl::StrCat(where, ".content: expected a non-empty string, found ",
                                         content ? Show(*content) : "nothing"));
    }
    AddedToken token;
    token.content = content->get<std::string>();
    const Json* id = Member(entry, "id");
    if (id == nullptr || !id->is_number_integer()) {
      return Invalid(label, absl::StrCat(where, " ('", token.content,
                                         "').id: expected an integer, found ",
                                         id ? Show(*id) : "nothing"));
    }
    bool single_word = false;
    BLOOM_RETURN_IF_ERROR(OptionalBool(entry, "single_word", false, label, where, &single_word));
    BLOOM_RETURN_IF_ERROR(OptionalBool(entry, "lstrip", false, label, where, &token.lstrip));
    BLOOM_RETURN_IF_ERROR(OptionalBool(entry, "rstrip", false, label, where, &token.rstrip));
    BLOOM_RETURN_IF_ERROR(
        OptionalBool(entry, "normalized", false, label, where, &token.normalized));
    BLOOM_RETURN_IF_ERROR(OptionalBool(entry, "special", false, label, where, &token.special));
    if (single_word) {
      return Unsupported(label, absl::StrCat(where, " ('", token.content,
                                             "'): single_word is not supported"));
    }
    if (!seen.insert(token.content).second) {
      return Invalid(label, absl::StrCat(where, ": content '", token.content,
                                         "' is listed twice"));
    }
    // The id tokenizers would give it: the vocab's, or the next new one.
    const int64_t file_id = id->get<int64_t>();
    auto in_vocab = out->vocab.find(token.content);
    const int64_t expected = in_vocab != out->vocab.end() ? in_vocab->second : next_new_id;
    if (file_id != expected) {
      return Invalid(label, absl::StrCat(
          where, " ('", token.content, "'): id ", file_id, " should be ", expected,
          in_vocab != out->vocab.end() ? " (its id in model.vocab)"
                                       : " (the next id after model.vocab and earlier "
                                         "added tokens)"));
    }
    if (in_vocab == out->vocab.end()) ++next_new_id;
    token.id = static_cast<int32_t>(file_id);
    out->added_tokens.push_back(std::move(token));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TokenizerJson> ParseTokenizerJson(absl::string_view json_text,
                                                 absl::string_view label) {
  // nlohmann reports syntax errors by exception; catch them here (and any
  // other, e.g. allocation failure) so none leaves the library.
  try {
    Json root;
    try {
      root = Json::parse(json_text.begin(), json_text.end());
    } catch (const Json::parse_error& e) {
      std::string what = e.what();
      const size_t cut = what.find("] ");  // drop "[json.exception.parse_error.101] "
      if (cut != std::string::npos) what = what.substr(cut + 2);
      return Invalid(label, absl::StrCat("malformed JSON: ", what));
    }
    if (!root.is_object()) {
      return Invalid(label, absl::StrCat("expected a JSON object, found ", Show(root)));
    }
    BLOOM_RETURN_IF_ERROR(CheckPipeline(root, label));
    TokenizerJson out;
    BLOOM_RETURN_IF_ERROR(ParseModel(root, label, &out));
    BLOOM_RETURN_IF_ERROR(ParseAddedTokens(root, label, &out));
    return out;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(label, ": unexpected error: ", e.what()));
  }
}

absl::StatusOr<TokenizerJson> ReadTokenizerJson(const std::string& path) {
  BLOOM_ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  absl::string_view text;
  if (file.size() > 0) text = {reinterpret_cast<const char*>(file.data()), file.size()};
  return ParseTokenizerJson(text, path);
}

}  // namespace bloom::tokenizer
