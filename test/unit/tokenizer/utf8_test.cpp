// UTF-8 validation and the lossy conversion, against hand-worked byte
// sequences (the replacement rule is the Unicode "maximal subpart" one that
// Rust's from_utf8_lossy implements; test/golden/tokenizer_cases_extra.json
// checks the same through tokenizers itself).
#include "runtime/tokenizer/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace bloom::tokenizer {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

std::string Lossy(const std::string& bytes) {
  std::string out;
  EXPECT_EQ(AppendUtf8Lossy(bytes, /*at_end=*/true, &out), bytes.size());
  return out;
}

TEST(Utf8Test, LossyKeepsValidText) {
  const std::string text = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF";
  EXPECT_EQ(Lossy(text), text);
}

TEST(Utf8Test, LossyReplacesMaximalSubparts) {
  // A lone continuation byte, C0/C1 and F5..FF can start nothing: one
  // U+FFFD each.
  EXPECT_EQ(Lossy("\x80"), kFffd);
  EXPECT_EQ(Lossy("\xBF\x80"), kFffd + kFffd);
  EXPECT_EQ(Lossy("\xC0\x80"), kFffd + kFffd);
  EXPECT_EQ(Lossy("\xF5\x80"), kFffd + kFffd);
  EXPECT_EQ(Lossy("\xFF\xFE"), kFffd + kFffd);
  // A truncated sequence is one U+FFFD, whatever its length so far.
  EXPECT_EQ(Lossy("\xE4"), kFffd);
  EXPECT_EQ(Lossy("\xE4\xB8"), kFffd);
  EXPECT_EQ(Lossy("\xE4\xB8" "A"), kFffd + "A");
  EXPECT_EQ(Lossy("\xF0\x9F\x98" "A"), kFffd + "A");
  EXPECT_EQ(Lossy("\xE4\xE4\xB8\xAD"), kFffd + "\xE4\xB8\xAD");
  // Overlong, surrogate and above-U+10FFFF forms fail at the second byte:
  // the lead alone is one U+FFFD, then each continuation byte another.
  EXPECT_EQ(Lossy("\xE0\x80\x80"), kFffd + kFffd + kFffd);
  EXPECT_EQ(Lossy("\xED\xA0\x80"), kFffd + kFffd + kFffd);
  EXPECT_EQ(Lossy("\xF0\x80\x80\x80"), kFffd + kFffd + kFffd + kFffd);
  EXPECT_EQ(Lossy("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);
  // The last code points before each excluded range are fine.
  EXPECT_EQ(Lossy("\xED\x9F\xBF"), "\xED\x9F\xBF");
  EXPECT_EQ(Lossy("\xE0\xA0\x80"), "\xE0\xA0\x80");
}

TEST(Utf8Test, LossyHoldsBackOnlyACompletableTail) {
  std::string out;
  EXPECT_EQ(AppendUtf8Lossy("ab\xE4\xB8", /*at_end=*/false, &out), 2u);
  EXPECT_EQ(out, "ab");
  out.clear();
  // E4 followed by 'A' can never complete: replaced at once.
  EXPECT_EQ(AppendUtf8Lossy("\xE4" "A", /*at_end=*/false, &out), 2u);
  EXPECT_EQ(out, kFffd + "A");
  out.clear();
  // A lone continuation byte at the end is not a sequence start: replaced.
  EXPECT_EQ(AppendUtf8Lossy("\x80", /*at_end=*/false, &out), 1u);
  EXPECT_EQ(out, kFffd);
}

TEST(Utf8Test, LossyPiecewiseEqualsWhole) {
  // Every split of a tricky byte string into two calls gives the same text
  // as one call.
  const std::string bytes = "x\xE4\xB8\xAD\xF0\x9F\x98\xE4\xB8" "A\xC3\xC3\xA9\xED\xA0\x80\xF4";
  const std::string whole = Lossy(bytes);
  for (size_t cut = 0; cut <= bytes.size(); ++cut) {
    std::string out;
    std::string pending = bytes.substr(0, cut);
    pending.erase(0, AppendUtf8Lossy(pending, false, &out));
    pending += bytes.substr(cut);
    AppendUtf8Lossy(pending, true, &out);
    EXPECT_EQ(out, whole) << "cut at " << cut;
  }
}

TEST(Utf8Test, ValidateNamesTheOffset) {
  EXPECT_TRUE(ValidateUtf8("").ok());
  EXPECT_TRUE(ValidateUtf8("h\xC3\xA9llo \xF0\x9F\x98\x80").ok());
  absl::Status s = ValidateUtf8("abc\xFF");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "text is not valid UTF-8: byte 0xFF at offset 3");
  s = ValidateUtf8("ab\xE4" "x");
  EXPECT_EQ(s.message(), "text is not valid UTF-8: byte 0x78 at offset 3");
  s = ValidateUtf8("\xED\xA0\x80");  // a surrogate
  EXPECT_EQ(s.message(), "text is not valid UTF-8: byte 0xA0 at offset 1");
  s = ValidateUtf8("\xC0\xAF");  // overlong '/'
  EXPECT_EQ(s.message(), "text is not valid UTF-8: byte 0xC0 at offset 0");
  s = ValidateUtf8("ok\xF0\x9F\x98");
  EXPECT_NE(s.message().find("offset 2"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("truncated"), absl::string_view::npos) << s;
}

TEST(Utf8Test, CodePointsRoundTrip) {
  for (char32_t cp : {0x00u, 0x41u, 0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xD7FFu, 0xE000u, 0xFFFDu,
                      0xFFFFu, 0x10000u, 0x1F600u, 0x10FFFFu}) {
    std::string s;
    AppendCodePoint(cp, &s);
    ASSERT_TRUE(ValidateUtf8(s).ok()) << std::hex << cp;
    size_t pos = 0;
    EXPECT_EQ(NextCodePoint(s, pos), cp);
    EXPECT_EQ(pos, s.size());
  }
}

}  // namespace
}  // namespace bloom::tokenizer
