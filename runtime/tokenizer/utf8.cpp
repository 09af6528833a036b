#include "runtime/tokenizer/utf8.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace bloom::tokenizer {
namespace {

bool IsContinuation(uint8_t b) { return (b & 0xC0) == 0x80; }

// Length of the sequence that lead byte `b` starts, or 0 if `b` can start
// none (a continuation byte, C0/C1 which could only be overlong, F5..FF).
int SequenceLength(uint8_t b) {
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;
}

// The second byte of a multibyte sequence has a narrower range after some
// lead bytes: that is what excludes overlong forms (E0, F0), surrogates (ED)
// and code points above U+10FFFF (F4).
bool ValidSecondByte(uint8_t lead, uint8_t b) {
  switch (lead) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF;
    case 0xED: return b >= 0x80 && b <= 0x9F;
    case 0xF0: return b >= 0x90 && b <= 0xBF;
    case 0xF4: return b >= 0x80 && b <= 0x8F;
    default: return IsContinuation(b);
  }
}

// How a sequence starting at `bytes[pos]` ends: `length` bytes that form a
// valid code point (valid == true), or `length` bytes that form a maximal
// invalid subpart; `truncated` when the subpart stopped only because the
// input ended.
struct SequenceScan {
  size_t length;
  bool valid;
  bool truncated;
};

SequenceScan ScanSequence(absl::string_view bytes, size_t pos) {
  const auto at = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  const uint8_t lead = at(pos);
  const int need = SequenceLength(lead);
  if (need == 0) return {1, false, false};
  if (need == 1) return {1, true, false};
  size_t got = 1;
  while (got < static_cast<size_t>(need)) {
    if (pos + got >= bytes.size()) return {got, false, true};
    const uint8_t b = at(pos + got);
    const bool ok = got == 1 ? ValidSecondByte(lead, b) : IsContinuation(b);
    if (!ok) return {got, false, false};
    ++got;
  }
  return {got, true, false};
}

}  // namespace

absl::Status ValidateUtf8(absl::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const SequenceScan scan = ScanSequence(text, pos);
    if (scan.truncated) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "text is not valid UTF-8: the sequence starting with byte 0x%02X at offset %d is "
          "truncated by the end of the text",
          static_cast<uint8_t>(text[pos]), pos));
    }
    if (!scan.valid) {
      // Name the byte that broke the sequence: the lead itself when it can
      // start nothing, else the first byte that failed to continue it.
      const bool can_start = SequenceLength(static_cast<uint8_t>(text[pos])) != 0;
      const size_t bad = can_start ? pos + scan.length : pos;
      return absl::InvalidArgumentError(
          absl::StrFormat("text is not valid UTF-8: byte 0x%02X at offset %d",
                          static_cast<uint8_t>(text[bad]), bad));
    }
    pos += scan.length;
  }
  return absl::OkStatus();
}

char32_t NextCodePoint(absl::string_view text, size_t& pos) {
  const auto at = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t lead = at(pos);
  if (lead < 0x80) {
    ++pos;
    return lead;
  }
  const int need = SequenceLength(lead);
  char32_t cp = lead & (need == 2 ? 0x1F : need == 3 ? 0x0F : 0x07);
  for (int i = 1; i < need; ++i) cp = (cp << 6) | (at(pos + i) & 0x3F);
  pos += need;
  return cp;
}

void AppendCodePoint(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t AppendUtf8Lossy(absl::string_view bytes, bool at_end, std::string* out) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const SequenceScan scan = ScanSequence(bytes, pos);
    if (scan.truncated && !at_end) break;  // more bytes may complete it
    if (scan.valid) {
      out->append(bytes.data() + pos, scan.length);
    } else {
      out->append(kReplacementUtf8.data(), kReplacementUtf8.size());
    }
    pos += scan.length;
  }
  return pos;
}

}  // namespace bloom::tokenizer
