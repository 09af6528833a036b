// BLOOM's pre-tokenizer split: tokenizers' Split with the Oniguruma regex
//
//     ` ?[^(\s|[.,!?…。，、।۔،])]+`     behavior "Isolated", invert false
//
// implemented by hand over code points. Inside the outer negated class,
// `(`, `|` and `)` are literal members and `[.,!?…。，、।۔،]` is a nested
// class, so the delimiter set D is: White_Space (what Oniguruma's \s
// matches in UTF-8), `(`, `)`, `|`, and . , ! ? … 。 ， 、 । ۔ ،.
//
// A match is an optional U+0020 followed by a maximal run of non-delimiters.
// Leftmost-first search means: at a space followed by a non-delimiter the
// match takes the space; at any other delimiter no match starts. "Isolated"
// keeps both the matches and the gaps between them as pieces, so the pieces
// tile the text: e.g. "a  b." -> "a", " ", " b", ".".
#pragma once

#include <vector>

#include "absl/strings/string_view.h"

namespace bloom::tokenizer {

// The regex string as BLOOM's tokenizer.json spells it; Load accepts a
// Split pre-tokenizer only with exactly this pattern.
inline constexpr absl::string_view kBloomSplitRegex =
    " ?[^(\\s|[.,!?\u2026\u3002\uFF0C\u3001\u0964\u06D4\u060C])]+";

// Unicode White_Space (Oniguruma's CR_Space table): U+0009..U+000D, U+0020,
// U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F,
// U+3000.
bool IsWhiteSpace(char32_t cp);

// Membership in the delimiter set D above.
bool IsBloomSplitDelimiter(char32_t cp);

// Splits `text` (valid UTF-8) into pieces as described above. The pieces
// are views into `text`, in order, non-empty, and concatenate to `text`.
std::vector<absl::string_view> BloomPreTokenize(absl::string_view text);

}  // namespace bloom::tokenizer
