// Reading and validating a Hugging Face tokenizer.json for BLOOM.
//
// Accepted: what BLOOM's released files and tokenizers 0.2x write for them,
// i.e. normalizer null; pre_tokenizer Sequence[Split(Regex kBloomSplitRegex,
// Isolated, invert false), ByteLevel(add_prefix_space false, use_regex
// false)]; model BPE (merges as "a b" strings or ["a", "b"] pairs, no
// dropout, no subword prefix/suffix, no byte fallback); decoder ByteLevel;
// post_processor null or ByteLevel (which adds no tokens); truncation and
// padding null (the caller truncates and pads). Anything else is rejected
// with one line naming the file and the field, rather than tokenized
// differently from Hugging Face.
//
// Ids: the model vocab must use each id in [0, size) exactly once; an added
// token already in the vocab must carry the vocab's id, and a new one the
// next id after the vocab, in file order (the ids tokenizers assigns).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/tokenizer/added_tokens.h"
#include "runtime/tokenizer/bpe.h"

namespace bloom::tokenizer {

struct TokenizerJson {
  absl::flat_hash_map<std::string, int32_t> vocab;  // the model's vocab
  std::vector<std::pair<std::string, std::string>> merges;
  BpeOptions bpe_options;
  std::vector<AddedToken> added_tokens;
};

// Parses `json_text`; error messages start with `label` (the path).
absl::StatusOr<TokenizerJson> ParseTokenizerJson(absl::string_view json_text,
                                                 absl::string_view label);

// Reads and parses the file at `path`.
absl::StatusOr<TokenizerJson> ReadTokenizerJson(const std::string& path);

}  // namespace bloom::tokenizer
