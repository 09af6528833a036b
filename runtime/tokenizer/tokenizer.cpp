#include "runtime/tokenizer/tokenizer.h"

#include <algorithm>
#include <utility>

#include "runtime/support/status_macros.h"
#include "runtime/tokenizer/byte_level.h"
#include "runtime/tokenizer/pre_tokenizer.h"
#include "runtime/tokenizer/tokenizer_json.h"
#include "runtime/tokenizer/utf8.h"

namespace bloom {

absl::StatusOr<Tokenizer> Tokenizer::Load(const std::string& tokenizer_json_path) {
  BLOOM_ASSIGN_OR_RETURN(tokenizer::TokenizerJson parsed,
                         tokenizer::ReadTokenizerJson(tokenizer_json_path));
  return FromParsed(std::move(parsed), tokenizer_json_path);
}

absl::StatusOr<Tokenizer> Tokenizer::FromJson(absl::string_view json_text,
                                              absl::string_view label) {
  BLOOM_ASSIGN_OR_RETURN(tokenizer::TokenizerJson parsed,
                         tokenizer::ParseTokenizerJson(json_text, label));
  return FromParsed(std::move(parsed), label);
}

absl::StatusOr<Tokenizer> Tokenizer::FromParsed(tokenizer::TokenizerJson parsed,
                                                absl::string_view label) {
  Tokenizer t;
  // ParseTokenizerJson guarantees dense ids: the vocab numbers [0, size)
  // and new added tokens continue from there.
  size_t size = parsed.vocab.size();
  for (const tokenizer::AddedToken& a : parsed.added_tokens) {
    size = std::max(size, static_cast<size_t>(a.id) + 1);
  }
  t.id_to_token_.resize(size);
  t.special_.assign(size, false);
  for (const auto& [token, id] : parsed.vocab) t.id_to_token_[id] = token;
  // For decoding, an added token stands for its content (tokenizers looks
  // ids up in the added vocabulary first).
  for (const tokenizer::AddedToken& a : parsed.added_tokens) {
    t.id_to_token_[a.id] = a.content;
    t.special_[a.id] = a.special;
    t.added_ids_[a.content] = a.id;
  }
  t.id_to_bytes_.reserve(size);
  for (const std::string& token : t.id_to_token_) {
    t.id_to_bytes_.push_back(tokenizer::ByteLevelToBytes(token));
  }
  BLOOM_ASSIGN_OR_RETURN(t.bpe_, tokenizer::BpeModel::Create(std::move(parsed.vocab),
                                                             parsed.merges,
                                                             std::move(parsed.bpe_options),
                                                             label));
  t.added_ = tokenizer::AddedTokenMatcher(std::move(parsed.added_tokens));
  return t;
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(absl::string_view text) const {
  BLOOM_RETURN_IF_ERROR(tokenizer::ValidateUtf8(text));
  std::vector<int32_t> ids;
  for (const tokenizer::AddedTokenSegment& segment : added_.Split(text)) {
    if (segment.id >= 0) {
      ids.push_back(segment.id);
      continue;
    }
    for (absl::string_view piece : tokenizer::BloomPreTokenize(segment.text)) {
      bpe_.Tokenize(tokenizer::BytesToByteLevel(piece), &ids);
    }
  }
  return ids;
}

std::string Tokenizer::Decode(absl::Span<const int32_t> ids, bool skip_special_tokens) const {
  std::string bytes;
  for (int32_t id : ids) {
    if (!Known(id) || (skip_special_tokens && special_[id])) continue;
    bytes += id_to_bytes_[id];
  }
  std::string text;
  text.reserve(bytes.size());
  tokenizer::AppendUtf8Lossy(bytes, /*at_end=*/true, &text);
  return text;
}

std::string Tokenizer::StreamDecoder::Next(int32_t id) {
  const Tokenizer& t = *tokenizer_;
  if (!t.Known(id) || (skip_special_tokens_ && t.special_[id])) return {};
  pending_ += t.id_to_bytes_[id];
  std::string text;
  const size_t used = tokenizer::AppendUtf8Lossy(pending_, /*at_end=*/false, &text);
  pending_.erase(0, used);
  return text;
}

std::string Tokenizer::StreamDecoder::Finish() {
  std::string text;
  tokenizer::AppendUtf8Lossy(pending_, /*at_end=*/true, &text);
  pending_.clear();
  return text;
}

std::optional<int32_t> Tokenizer::TokenId(absl::string_view token) const {
  auto it = added_ids_.find(token);
  if (it != added_ids_.end()) return it->second;
  return bpe_.TokenToId(token);
}

std::optional<absl::string_view> Tokenizer::TokenString(int32_t id) const {
  if (!Known(id)) return std::nullopt;
  return absl::string_view(id_to_token_[id]);
}

bool Tokenizer::IsSpecial(int32_t id) const { return Known(id) && special_[id]; }

}  // namespace bloom
