// GPT-2's byte-level alphabet (bytes_to_unicode), as BLOOM's ByteLevel
// pre-tokenizer and decoder use it: every byte 0..255 stands for one
// printable code point, so that any byte string becomes a string of
// "characters" that BPE can merge. The printable bytes '!'..'~', 0xA1..0xAC
// and 0xAE..0xFF stand for themselves (as the code points of the same
// value); the other 68 bytes, in increasing order, map to U+0100, U+0101, ...
// (so ' ' is U+0120 'Ġ' and '\n' is U+010A 'Ċ').
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace bloom::tokenizer {

// The code point that byte `b` stands for.
char32_t ByteToCodePoint(uint8_t b);

// The byte that code point `cp` stands for, if `cp` is in the alphabet.
std::optional<uint8_t> CodePointToByte(char32_t cp);

// Maps every byte of `bytes` (any bytes) to its code point, as UTF-8.
std::string BytesToByteLevel(absl::string_view bytes);

// The bytes that a token string (valid UTF-8) stands for, by the rule of
// tokenizers' ByteLevel decoder: if every code point of the token is in the
// alphabet, the bytes they stand for; otherwise the token's own UTF-8 bytes
// unchanged (a token from outside the alphabet, e.g. an added token "日本").
std::string ByteLevelToBytes(absl::string_view token);

}  // namespace bloom::tokenizer
