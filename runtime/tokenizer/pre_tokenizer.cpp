#include "runtime/tokenizer/pre_tokenizer.h"

#include "runtime/tokenizer/utf8.h"

namespace bloom::tokenizer {

bool IsWhiteSpace(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool IsBloomSplitDelimiter(char32_t cp) {
  switch (cp) {
    case U'(': case U')': case U'|':
    case U'.': case U',': case U'!': case U'?':
    case U'\u2026':  // … HORIZONTAL ELLIPSIS
    case U'\u3002':  // 。 IDEOGRAPHIC FULL STOP
    case U'\uFF0C':  // ， FULLWIDTH COMMA
    case U'\u3001':  // 、 IDEOGRAPHIC COMMA
    case U'\u0964':  // । DEVANAGARI DANDA
    case U'\u06D4':  // ۔ ARABIC FULL STOP
    case U'\u060C':  // ، ARABIC COMMA
      return true;
    default:
      return IsWhiteSpace(cp);
  }
}

std::vector<absl::string_view> BloomPreTokenize(absl::string_view text) {
  std::vector<absl::string_view> pieces;
  size_t gap_start = 0;  // start of the text not yet assigned to a piece
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    const char32_t cp = NextCodePoint(text, pos);
    size_t run_start;  // where the run of non-delimiters must begin
    if (cp == U' ') {
      if (pos >= text.size()) break;
      size_t peek = pos;
      if (IsBloomSplitDelimiter(NextCodePoint(text, peek))) continue;
      run_start = pos;
    } else if (IsBloomSplitDelimiter(cp)) {
      continue;
    } else {
      run_start = start;
    }
    // A match begins at `start`; extend it over the run of non-delimiters.
    size_t end = run_start;
    while (end < text.size()) {
      size_t next = end;
      if (IsBloomSplitDelimiter(NextCodePoint(text, next))) break;
      end = next;
    }
    if (gap_start < start) pieces.push_back(text.substr(gap_start, start - gap_start));
    pieces.push_back(text.substr(start, end - start));
    gap_start = pos = end;
  }
  if (gap_start < text.size()) pieces.push_back(text.substr(gap_start));
  return pieces;
}

}  // namespace bloom::tokenizer
