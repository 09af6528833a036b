// UTF-8 helpers for the tokenizer: strict validation of input text, code
// point iteration over text already validated, and the lossy conversion that
// Hugging Face `tokenizers` applies when decoding byte-level tokens (Rust's
// String::from_utf8_lossy), in a form that can run incrementally.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace bloom::tokenizer {

// U+FFFD REPLACEMENT CHARACTER in UTF-8.
inline constexpr absl::string_view kReplacementUtf8 = "\xEF\xBF\xBD";

// OK if `text` is well-formed UTF-8 (no overlong forms, no surrogates, no
// code point above U+10FFFF, no truncated sequence). Otherwise
// InvalidArgument naming the byte offset and value of the first bad byte:
// "text is not valid UTF-8: byte 0xFF at offset 3".
absl::Status ValidateUtf8(absl::string_view text);

// Decodes the code point starting at `text[pos]` and advances `pos` past
// it. Precondition: `text` is valid UTF-8 (ValidateUtf8) and pos < size.
char32_t NextCodePoint(absl::string_view text, size_t& pos);

// Appends the UTF-8 encoding of `cp` (must be a Unicode scalar value).
void AppendCodePoint(char32_t cp, std::string* out);

// Appends `bytes` to `out` as from_utf8_lossy would: valid sequences are
// copied, and each maximal invalid subpart (a lone byte that cannot start a
// sequence, or a sequence start followed by fewer continuation bytes than it
// needs) becomes one U+FFFD. Returns the number of bytes consumed.
//
// With `at_end == false`, a truncated sequence at the very end of `bytes`
// (one that more bytes could still complete) is not consumed, so that a
// caller feeding the bytes piece by piece gets exactly the text that one
// call over the concatenation would give. With `at_end == true` everything
// is consumed.
size_t AppendUtf8Lossy(absl::string_view bytes, bool at_end, std::string* out);

}  // namespace bloom::tokenizer
