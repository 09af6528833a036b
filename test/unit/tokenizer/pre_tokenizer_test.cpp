// BLOOM's Split pre-tokenizer on hand-derived splits of
// ` ?[^(\s|[.,!?…。，、।۔،])]+` (Isolated): a match is an optional space and
// a run of non-delimiters; the gaps between matches are pieces too.
#include "runtime/tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace bloom::tokenizer {
namespace {

std::vector<std::string> Split(const std::string& text) {
  std::vector<std::string> out;
  for (absl::string_view piece : BloomPreTokenize(text)) out.emplace_back(piece);
  return out;
}

using Pieces = std::vector<std::string>;

TEST(PreTokenizerTest, WordsTakeTheirLeadingSpace) {
  EXPECT_EQ(Split("Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(Split("The quick  fox"), (Pieces{"The", " quick", " ", " fox"}));
  EXPECT_EQ(Split(""), Pieces{});
  EXPECT_EQ(Split(" "), (Pieces{" "}));
  EXPECT_EQ(Split("   "), (Pieces{"   "}));
  EXPECT_EQ(Split("  leading"), (Pieces{" ", " leading"}));
  EXPECT_EQ(Split("trailing  "), (Pieces{"trailing", "  "}));
}

TEST(PreTokenizerTest, WhitespaceRunsAndNewlines) {
  EXPECT_EQ(Split("multiple   spaces\tand\ttabs"),
            (Pieces{"multiple", "  ", " spaces", "\t", "and", "\t", "tabs"}));
  EXPECT_EQ(Split("a\n\nb"), (Pieces{"a", "\n\n", "b"}));
  EXPECT_EQ(Split("a\n b"), (Pieces{"a", "\n", " b"}));
  EXPECT_EQ(Split("a \nb"), (Pieces{"a", " \n", "b"}));
  EXPECT_EQ(Split("a\r\nb"), (Pieces{"a", "\r\n", "b"}));
  // Only U+0020 can be the optional leading space; a tab is a gap.
  EXPECT_EQ(Split("\tx"), (Pieces{"\t", "x"}));
}

TEST(PreTokenizerTest, PunctuationClassMembersAreDelimiters) {
  EXPECT_EQ(Split("a.b,c!d?e"), (Pieces{"a", ".", "b", ",", "c", "!", "d", "?", "e"}));
  // … 。 ， 、 । ۔ ، (U+2026 U+3002 U+FF0C U+3001 U+0964 U+06D4 U+060C).
  for (const std::string p : {"\u2026", "\u3002", "\uFF0C", "\u3001", "\u0964", "\u06D4",
                              "\u060C"}) {
    EXPECT_EQ(Split("x" + p + "y"), (Pieces{"x", p, "y"})) << p;
    EXPECT_EQ(Split("x " + p + " y"), (Pieces{"x", " " + p, " y"})) << p;
  }
  EXPECT_EQ(Split("中文，标点。"), (Pieces{"中文", "，", "标点", "。"}));
  EXPECT_EQ(Split("Bonjour ! Où ?"), (Pieces{"Bonjour", " !", " Où", " ?"}));
  EXPECT_EQ(Split("..."), (Pieces{"..."}));
}

TEST(PreTokenizerTest, ParenthesesAndBarAreLiteralClassMembers) {
  EXPECT_EQ(Split("f(x)|g(y)"), (Pieces{"f", "(", "x", ")|", "g", "(", "y", ")"}));
  EXPECT_EQ(Split("(a|b)"), (Pieces{"(", "a", "|", "b", ")"}));
  EXPECT_EQ(Split("x (y)"), (Pieces{"x", " (", "y", ")"}));
  // Other brackets and the regex's own syntax characters are ordinary.
  EXPECT_EQ(Split("x [y]{z}\\s"), (Pieces{"x", " [y]{z}\\s"}));
  EXPECT_EQ(Split("a;b:c"), (Pieces{"a;b:c"}));
}

TEST(PreTokenizerTest, UnicodeWhiteSpaceSplitsAndLookAlikesDoNot) {
  EXPECT_EQ(Split("a\u3000b"), (Pieces{"a", "\u3000", "b"}));
  EXPECT_EQ(Split("a\u00A0b"), (Pieces{"a", "\u00A0", "b"}));
  EXPECT_EQ(Split("a \u2009b"), (Pieces{"a", " \u2009", "b"}));
  EXPECT_EQ(Split("a\u0085b"), (Pieces{"a", "\u0085", "b"}));
  // U+200B ZERO WIDTH SPACE, U+180E (not White_Space since Unicode 6.3),
  // U+FEFF and U+2060 are ordinary characters.
  EXPECT_EQ(Split("a\u200Bb \u180Ec\uFEFF\u2060"), (Pieces{"a\u200Bb", " \u180Ec\uFEFF\u2060"}));
}

TEST(PreTokenizerTest, WhiteSpaceSetIsUnicodeWhiteSpace) {
  // Unicode's PropList.txt White_Space, listed independently.
  const std::vector<char32_t> white_space = {
      0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x2001, 0x2002,
      0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A, 0x2028, 0x2029,
      0x202F, 0x205F, 0x3000};
  size_t found = 0;
  for (char32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    const bool expected =
        std::find(white_space.begin(), white_space.end(), cp) != white_space.end();
    ASSERT_EQ(IsWhiteSpace(cp), expected) << std::hex << cp;
    found += expected;
    if (expected) EXPECT_TRUE(IsBloomSplitDelimiter(cp));
  }
  EXPECT_EQ(found, white_space.size());
}

TEST(PreTokenizerTest, DelimiterSetIsExactly) {
  size_t count = 0;
  for (char32_t cp = 0; cp <= 0x10FFFF; ++cp) count += IsBloomSplitDelimiter(cp);
  // 25 White_Space + ( ) | + . , ! ? + 7 non-ASCII punctuation marks.
  EXPECT_EQ(count, 25u + 3u + 4u + 7u);
}

TEST(PreTokenizerTest, PiecesTileTheText) {
  const std::string text = "  x\u3000 y..z (w)|  \n\u2026end ";
  std::string joined;
  for (const std::string& p : Split(text)) {
    EXPECT_FALSE(p.empty());
    joined += p;
  }
  EXPECT_EQ(joined, text);
}

TEST(PreTokenizerTest, PatternConstantIsBloomsRegex) {
  // As written in BLOOM's tokenizer.json (UTF-8 of … 。 ， 、 । ۔ ،).
  EXPECT_EQ(std::string(kBloomSplitRegex),
            " ?[^(\\s|[.,!?\xE2\x80\xA6\xE3\x80\x82\xEF\xBC\x8C\xE3\x80\x81\xE0\xA5\xA4"
            "\xDB\x94\xD8\x8C])]+");
}

}  // namespace
}  // namespace bloom::tokenizer
