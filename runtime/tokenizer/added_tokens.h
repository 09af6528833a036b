// Added tokens (special tokens such as <s> and </s>, and any other
// "added_tokens" entry) are found in the raw text before pre-tokenization,
// as tokenizers' AddedVocabulary does:
//
//   1. tokens with normalized == false are matched in the whole text;
//   2. tokens with normalized == true are matched in the pieces between
//      those matches (BLOOM has no normalizer, so the pieces are unchanged).
//
// Each pass is a leftmost-longest scan: the earliest match wins, the
// longest one among those starting there, and the scan resumes after it.
// `lstrip` widens a match leftwards over White_Space (not into an earlier
// match), `rstrip` rightwards. `single_word` is not supported (Load
// rejects it): it needs Unicode word classes BLOOM never uses.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace bloom::tokenizer {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool special = false;
};

// A piece of the input: either an added token's match (id >= 0; `text`
// includes any stripped whitespace) or plain text to pre-tokenize (id -1).
struct AddedTokenSegment {
  absl::string_view text;
  int32_t id;
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(std::vector<AddedToken> tokens);

  // Splits `text` (valid UTF-8) into segments that tile it, in order, with
  // no empty plain segment.
  std::vector<AddedTokenSegment> Split(absl::string_view text) const;

 private:
  // Token indices (into tokens_) of one pass, bucketed by first byte and
  // sorted longest first, so the first hit at a position is the longest.
  struct Pass {
    std::vector<std::vector<size_t>> by_first_byte = std::vector<std::vector<size_t>>(256);
    bool empty = true;
  };
  void SplitPass(const Pass& pass, absl::string_view text,
                 std::vector<AddedTokenSegment>* out) const;

  std::vector<AddedToken> tokens_;
  Pass raw_pass_;         // normalized == false
  Pass normalized_pass_;  // normalized == true
};

}  // namespace bloom::tokenizer
