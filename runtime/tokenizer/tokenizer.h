// BLOOM's tokenizer, read from a Hugging Face tokenizer.json and matching
// the `tokenizers` library id for id and byte for byte:
//
//   Encode: added/special tokens are found in the raw text first
//   (added_tokens.h); the rest is split by BLOOM's regex (pre_tokenizer.h),
//   each piece's UTF-8 bytes are mapped to the byte-level alphabet
//   (byte_level.h) and merged by BPE (bpe.h). Nothing is added around the
//   ids (no <s>): BLOOM's post-processor adds no tokens.
//
//   Decode: each id's token string is mapped back to bytes (ByteLevel
//   decoder) and the bytes are read as UTF-8, each invalid part replaced by
//   U+FFFD as Rust's from_utf8_lossy does.
//
// A Tokenizer is immutable after Load and safe to share between threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "runtime/tokenizer/added_tokens.h"
#include "runtime/tokenizer/bpe.h"

namespace bloom {
namespace tokenizer {
struct TokenizerJson;
}  // namespace tokenizer

class Tokenizer {
 public:
  // Reads and validates `tokenizer_json_path` (see tokenizer_json.h for what
  // is accepted). Errors are one line: "PATH: FIELD: problem".
  static absl::StatusOr<Tokenizer> Load(const std::string& tokenizer_json_path);
  // The same from the file's text; `label` stands for the path in errors.
  static absl::StatusOr<Tokenizer> FromJson(absl::string_view json_text,
                                            absl::string_view label);

  // The ids of `text`. `text` must be valid UTF-8 (tokenizers only takes
  // Unicode strings): otherwise InvalidArgument naming the offset of the
  // first bad byte, and nothing is encoded. Never fails on valid text.
  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text) const;

  // The text of `ids`, as tokenizers' decode(ids, skip_special_tokens).
  // Ids outside [0, vocab_size()) are skipped (tokenizers skips ids it does
  // not know). Always valid UTF-8.
  std::string Decode(absl::Span<const int32_t> ids, bool skip_special_tokens = false) const;

  // Decodes ids one at a time, for streaming generated text: each Next()
  // returns only complete UTF-8 and holds back the bytes of a character
  // whose remaining bytes may come with later tokens. The concatenation of
  // every Next() and the final Finish() equals Decode() of all the ids.
  // The Tokenizer must outlive it.
  class StreamDecoder {
   public:
    explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false)
        : tokenizer_(&tokenizer), skip_special_tokens_(skip_special_tokens) {}
    // The text that `id` completes (often empty while a character is split).
    std::string Next(int32_t id);
    // What is still held back (an unfinished character becomes U+FFFD);
    // the decoder is then empty and may be reused.
    std::string Finish();

   private:
    const Tokenizer* tokenizer_;
    bool skip_special_tokens_;
    std::string pending_;  // at most 3 bytes: an unfinished UTF-8 sequence
  };

  // Number of ids: the model vocab plus added tokens not in it.
  int32_t vocab_size() const { return static_cast<int32_t>(id_to_token_.size()); }

  // The id of a token string: an added token's content (e.g. "<s>", "</s>",
  // "<pad>", "<unk>"), else a model vocab entry in byte-level form ("Ġthe").
  std::optional<int32_t> TokenId(absl::string_view token) const;

  // The token string of `id` (an added token's content, or the byte-level
  // vocab entry), or nullopt outside [0, vocab_size()).
  std::optional<absl::string_view> TokenString(int32_t id) const;

  // Whether `id` is a special added token (skipped by skip_special_tokens).
  bool IsSpecial(int32_t id) const;

 private:
  Tokenizer() = default;
  static absl::StatusOr<Tokenizer> FromParsed(tokenizer::TokenizerJson parsed,
                                              absl::string_view label);

  bool Known(int32_t id) const { return id >= 0 && id < vocab_size(); }

  tokenizer::BpeModel bpe_;
  tokenizer::AddedTokenMatcher added_;
  absl::flat_hash_map<std::string, int32_t> added_ids_;  // content -> id
  std::vector<std::string> id_to_token_;
  std::vector<std::string> id_to_bytes_;  // what Decode emits for each id
  std::vector<bool> special_;
};

}  // namespace bloom
