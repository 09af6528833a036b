// The byte-level alphabet against GPT-2's bytes_to_unicode, worked by hand.
#include "runtime/tokenizer/byte_level.h"

#include <set>

#include "gtest/gtest.h"

namespace bloom::tokenizer {
namespace {

TEST(ByteLevelTest, KnownMappings) {
  // Printable bytes stand for themselves.
  EXPECT_EQ(ByteToCodePoint('A'), U'A');
  EXPECT_EQ(ByteToCodePoint('!'), U'!');
  EXPECT_EQ(ByteToCodePoint('~'), U'~');
  EXPECT_EQ(ByteToCodePoint(0xA1), 0xA1u);
  EXPECT_EQ(ByteToCodePoint(0xAC), 0xACu);
  EXPECT_EQ(ByteToCodePoint(0xAE), 0xAEu);
  EXPECT_EQ(ByteToCodePoint(0xFF), 0xFFu);
  // The others, in byte order, from U+0100: 0x00..0x20 are the first 33,
  // 0x7F..0xA0 the next 34, 0xAD the last.
  EXPECT_EQ(ByteToCodePoint(0x00), 0x100u);
  EXPECT_EQ(ByteToCodePoint('\t'), 0x109u);
  EXPECT_EQ(ByteToCodePoint('\n'), 0x10Au);  // 'Ċ'
  EXPECT_EQ(ByteToCodePoint(' '), 0x120u);   // 'Ġ'
  EXPECT_EQ(ByteToCodePoint(0x7F), 0x121u);
  EXPECT_EQ(ByteToCodePoint(0xA0), 0x142u);
  EXPECT_EQ(ByteToCodePoint(0xAD), 0x143u);  // 'Ń'
}

TEST(ByteLevelTest, IsABijection) {
  std::set<char32_t> seen;
  for (int b = 0; b < 256; ++b) {
    const char32_t cp = ByteToCodePoint(static_cast<uint8_t>(b));
    EXPECT_TRUE(seen.insert(cp).second) << b;
    ASSERT_TRUE(CodePointToByte(cp).has_value()) << b;
    EXPECT_EQ(*CodePointToByte(cp), b);
  }
  EXPECT_EQ(*seen.rbegin(), 0x143u);
  // Code points outside the alphabet map to no byte.
  for (char32_t cp : {0x20u, 0x7Fu, 0xA0u, 0xADu, 0x144u, 0x4E2Du}) {
    EXPECT_FALSE(CodePointToByte(cp).has_value()) << cp;
  }
}

TEST(ByteLevelTest, StringsRoundTrip) {
  EXPECT_EQ(BytesToByteLevel(" the\n"), "\xC4\xA0the\xC4\x8A");  // "Ġthe" + "Ċ"
  // "é" is C3 A9: both printable Latin-1 bytes, so "Ã©".
  EXPECT_EQ(BytesToByteLevel("\xC3\xA9"), "\xC3\x83\xC2\xA9");
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  EXPECT_EQ(ByteLevelToBytes(BytesToByteLevel(all)), all);
}

TEST(ByteLevelTest, TokensOutsideTheAlphabetDecodeToThemselves) {
  // As tokenizers' ByteLevel decoder: any code point outside the alphabet
  // makes the whole token pass through as its own UTF-8.
  EXPECT_EQ(ByteLevelToBytes("\xE6\x97\xA5\xE6\x9C\xAC"), "\xE6\x97\xA5\xE6\x9C\xAC");  // 日本
  EXPECT_EQ(ByteLevelToBytes("a b"), "a b");  // ' ' itself is not in the alphabet
  // "é" (U+00E9) is in the alphabet: it stands for the byte E9.
  EXPECT_EQ(ByteLevelToBytes("\xC3\xA9"), "\xE9");
  EXPECT_EQ(ByteLevelToBytes("<s>"), "<s>");
}

}  // namespace
}  // namespace bloom::tokenizer
