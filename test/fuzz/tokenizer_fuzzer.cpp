// libFuzzer target: BLOOM's tokenizer (the tiny tokenizer.json) on
// arbitrary input. The same bytes are used twice:
//
//   1. as text for Encode: valid UTF-8 must encode, to ids inside the
//      vocabulary that decode back to the very same text (byte-level BPE
//      loses nothing, and the tiny tokenizer strips no whitespace around
//      added tokens); invalid UTF-8 must be refused with a one-line error;
//   2. as ids (little-endian 16-bit values, shifted so that negative and
//      out-of-range ids occur too) for Decode and the StreamDecoder, with
//      and without skip_special_tokens: the text must be valid UTF-8, every
//      streamed chunk too, and the chunks must add up to Decode's text.
//
// Any broken property ends the run with __builtin_trap().
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/utf8.h"

namespace {

const bloom::Tokenizer& TinyTokenizer() {
  static const bloom::Tokenizer* tokenizer = [] {
    auto loaded =
        bloom::Tokenizer::Load(std::string(BLOOM_SOURCE_DIR) + "/models/bloom/tiny-random/tokenizer.json");
    if (!loaded.ok()) {
      __builtin_printf("cannot load the tiny tokenizer: %s\n",
                       std::string(loaded.status().message()).c_str());
      std::abort();
    }
    return new bloom::Tokenizer(std::move(*loaded));
  }();
  return *tokenizer;
}

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void FuzzEncode(const bloom::Tokenizer& tok, const std::string& text) {
  auto ids = tok.Encode(text);
  const bool valid = bloom::tokenizer::ValidateUtf8(text).ok();
  Check(ids.ok() == valid);
  if (!ids.ok()) {
    Check(ids.status().message().find('\n') == absl::string_view::npos);
    return;
  }
  for (int32_t id : *ids) Check(id >= 0 && id < tok.vocab_size());
  Check(tok.Decode(*ids) == text);
}

void FuzzDecode(const bloom::Tokenizer& tok, const std::vector<int32_t>& ids, bool skip) {
  const std::string text = tok.Decode(ids, skip);
  Check(bloom::tokenizer::ValidateUtf8(text).ok());
  bloom::Tokenizer::StreamDecoder stream(tok, skip);
  std::string joined;
  for (int32_t id : ids) {
    const std::string chunk = stream.Next(id);
    Check(bloom::tokenizer::ValidateUtf8(chunk).ok());
    joined += chunk;
  }
  const std::string rest = stream.Finish();
  Check(bloom::tokenizer::ValidateUtf8(rest).ok());
  Check(joined + rest == text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const bloom::Tokenizer& tok = TinyTokenizer();
  FuzzEncode(tok, std::string(reinterpret_cast<const char*>(data), size));

  std::vector<int32_t> ids;
  for (size_t i = 0; i + 1 < size; i += 2) {
    const int32_t raw = data[i] | (data[i + 1] << 8);
    // Mostly ids in [-8, vocab + 8), sometimes any 16-bit value.
    ids.push_back((raw & 0x8000) ? raw - 0x4000 : raw % (tok.vocab_size() + 16) - 8);
  }
  FuzzDecode(tok, ids, /*skip=*/false);
  FuzzDecode(tok, ids, /*skip=*/true);
  return 0;
}
