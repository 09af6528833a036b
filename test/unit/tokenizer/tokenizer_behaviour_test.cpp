// Tokenizer behaviour worked out by hand on the tiny tokenizer: special
// tokens inside text, streaming a character split across tokens, invalid
// input, unknown ids, lookups, and lstrip/rstrip added tokens.
#include <algorithm>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/tokenizer/byte_level.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace bloom {
namespace {

using tokenizer_test::ReadJson;
using tokenizer_test::TinyTokenizerPath;
using Json = nlohmann::json;

class TokenizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = Tokenizer::Load(TinyTokenizerPath());
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    tok_.emplace(std::move(*loaded));
  }
  // Id of the single-byte token for `byte`.
  int32_t ByteId(uint8_t byte) const {
    const std::string s = tokenizer::BytesToByteLevel(std::string(1, static_cast<char>(byte)));
    auto id = tok_->TokenId(s);
    EXPECT_TRUE(id.has_value()) << int(byte);
    return id.value_or(-1);
  }
  std::vector<int32_t> Encode(const std::string& text) const {
    auto ids = tok_->Encode(text);
    EXPECT_TRUE(ids.ok()) << ids.status();
    return ids.ok() ? *ids : std::vector<int32_t>{};
  }
  std::optional<Tokenizer> tok_;
};

TEST_F(TokenizerTest, Lookups) {
  EXPECT_EQ(tok_->vocab_size(), 1024);
  EXPECT_EQ(tok_->TokenId("<unk>"), 0);
  EXPECT_EQ(tok_->TokenId("<s>"), 1);
  EXPECT_EQ(tok_->TokenId("</s>"), 2);
  EXPECT_EQ(tok_->TokenId("<pad>"), 3);
  EXPECT_EQ(tok_->TokenId("\xC4\xA0the"), 275);  // "Ġthe", from tokenizer_cases.json
  EXPECT_EQ(tok_->TokenId("no such token"), std::nullopt);
  EXPECT_EQ(tok_->TokenString(1), "<s>");
  EXPECT_EQ(tok_->TokenString(1024), std::nullopt);
  EXPECT_EQ(tok_->TokenString(-1), std::nullopt);
  for (int32_t id = 0; id < 4; ++id) EXPECT_TRUE(tok_->IsSpecial(id));
  EXPECT_FALSE(tok_->IsSpecial(4));
  EXPECT_FALSE(tok_->IsSpecial(5000));
}

TEST_F(TokenizerTest, SpecialTokensInsideText) {
  const int32_t a = *tok_->TokenId("a"), b = *tok_->TokenId("b");
  EXPECT_EQ(Encode("<s>"), (std::vector<int32_t>{1}));
  EXPECT_EQ(Encode("a<pad>b"), (std::vector<int32_t>{a, 3, b}));
  EXPECT_EQ(Encode("</s></s>"), (std::vector<int32_t>{2, 2}));
  // "<s" is no token: plain text, tokenized like any other.
  const std::vector<int32_t> lt_s = Encode("<s");
  EXPECT_EQ(std::count(lt_s.begin(), lt_s.end(), 1), 0);
  // The text between special tokens is pre-tokenized on its own: the space
  // before </s> is a piece by itself.
  EXPECT_EQ(Encode("b </s>"), (std::vector<int32_t>{b, ByteId(' '), 2}));
  // Decoding keeps them, or skips them on request.
  EXPECT_EQ(tok_->Decode({1, a, 3, b, 2}), "<s>a<pad>b</s>");
  EXPECT_EQ(tok_->Decode({1, a, 3, b, 2}, /*skip_special_tokens=*/true), "ab");
}

TEST_F(TokenizerTest, StreamDecoderHoldsBackASplitCharacter) {
  // 中 is E4 B8 AD; one byte token each.
  const std::vector<int32_t> ids = {ByteId('x'), ByteId(0xE4), ByteId(0xB8), ByteId(0xAD),
                                    ByteId('y')};
  Tokenizer::StreamDecoder stream(*tok_);
  EXPECT_EQ(stream.Next(ids[0]), "x");
  EXPECT_EQ(stream.Next(ids[1]), "");
  EXPECT_EQ(stream.Next(ids[2]), "");
  EXPECT_EQ(stream.Next(ids[3]), "\xE4\xB8\xAD");
  EXPECT_EQ(stream.Next(ids[4]), "y");
  EXPECT_EQ(stream.Finish(), "");
  EXPECT_EQ(tok_->Decode(ids), "x\xE4\xB8\xADy");

  // A 4-byte emoji (F0 9F 98 80) cut off: Finish turns the held-back bytes
  // into one U+FFFD, as Decode does.
  EXPECT_EQ(stream.Next(ByteId(0xF0)), "");
  EXPECT_EQ(stream.Next(ByteId(0x9F)), "");
  EXPECT_EQ(stream.Next(ByteId(0x98)), "");
  EXPECT_EQ(stream.Finish(), "\xEF\xBF\xBD");
  EXPECT_EQ(tok_->Decode({ByteId(0xF0), ByteId(0x9F), ByteId(0x98)}), "\xEF\xBF\xBD");

  // A sequence that cannot complete is replaced as soon as that is known.
  EXPECT_EQ(stream.Next(ByteId(0xE4)), "");
  EXPECT_EQ(stream.Next(ByteId('z')), "\xEF\xBF\xBDz");
  EXPECT_EQ(stream.Next(ByteId(0xFF)), "\xEF\xBF\xBD");
  EXPECT_EQ(stream.Finish(), "");
}

TEST_F(TokenizerTest, StreamDecoderOnMultibyteText) {
  // Real merges split characters across tokens (tokenizer_cases.json:
  // "小" is "å" + "°" + "ı"); every chunk is whole characters and the
  // chunks add up to the text.
  const std::string text = "小模型什么都不知道，它的权重是随机的。 😀🚀 नमस्ते";
  const std::vector<int32_t> ids = Encode(text);
  Tokenizer::StreamDecoder stream(*tok_);
  std::string joined;
  int empty_chunks = 0;
  for (int32_t id : ids) {
    const std::string chunk = stream.Next(id);
    empty_chunks += chunk.empty();
    joined += chunk;
  }
  joined += stream.Finish();
  EXPECT_EQ(joined, text);
  EXPECT_GT(empty_chunks, 0);  // some tokens did end inside a character
}

TEST_F(TokenizerTest, InvalidUtf8InputIsAnError) {
  auto bad = tok_->Encode("ok \xC3(");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "text is not valid UTF-8: byte 0x28 at offset 4");
  EXPECT_FALSE(tok_->Encode(std::string("\xFF", 1)).ok());
  // NUL is valid UTF-8 and encodes (as the byte token for 0x00).
  EXPECT_EQ(Encode(std::string("\0", 1)), (std::vector<int32_t>{ByteId(0)}));
}

TEST_F(TokenizerTest, UnknownIdsAreSkippedWhenDecoding) {
  const int32_t a = *tok_->TokenId("a");
  EXPECT_EQ(tok_->Decode({-5, a, 1024, 1 << 30, a}), "aa");
  Tokenizer::StreamDecoder stream(*tok_);
  EXPECT_EQ(stream.Next(-1), "");
  EXPECT_EQ(stream.Next(99999), "");
  EXPECT_EQ(stream.Next(a), "a");
}

TEST_F(TokenizerTest, ConcurrentEncodesAgree) {
  // The word cache is shared: threads encoding new words at once (cache
  // inserts racing with lookups) must get what a separate tokenizer gets
  // encoding the same texts one by one.
  std::vector<std::string> texts;
  for (int i = 0; i < 400; ++i) {
    texts.push_back("The quick brown fox " + std::to_string(i * 7919) + " jumps over wordx" +
                    std::to_string(i % 37) + " où ?");
  }
  auto reference = Tokenizer::Load(TinyTokenizerPath());
  ASSERT_TRUE(reference.ok());
  std::vector<std::vector<int32_t>> expected;
  for (const std::string& t : texts) expected.push_back(*reference->Encode(t));
  std::vector<int> mismatches(8, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = 0; i < texts.size(); ++i) {
        const size_t k = (i + 50 * t) % texts.size();
        auto ids = tok_->Encode(texts[k]);
        if (!ids.ok() || *ids != expected[k]) ++mismatches[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

TEST_F(TokenizerTest, LstripAndRstripAddedTokens) {
  Json json = ReadJson(TinyTokenizerPath());
  json["added_tokens"].push_back({{"id", 1024}, {"content", "<L>"}, {"single_word", false},
                                  {"lstrip", true}, {"rstrip", false}, {"normalized", false},
                                  {"special", true}});
  json["added_tokens"].push_back({{"id", 1025}, {"content", "<R>"}, {"single_word", false},
                                  {"lstrip", false}, {"rstrip", true}, {"normalized", false},
                                  {"special", false}});
  auto tok = Tokenizer::FromJson(json.dump(), "lstrip-rstrip");
  ASSERT_TRUE(tok.ok()) << tok.status();
  const int32_t a = *tok->TokenId("a"), b = *tok->TokenId("b");
  // <L> swallows the White_Space before it (U+3000 included), <R> after it.
  EXPECT_EQ(*tok->Encode("a \t\u3000<L>b"), (std::vector<int32_t>{a, 1024, b}));
  EXPECT_EQ(*tok->Encode("a<R> \n b"), (std::vector<int32_t>{a, 1025, b}));
  // The space after <L> is not stripped: it is left for the next piece.
  EXPECT_EQ(*tok->Encode("<L> b"), (std::vector<int32_t>{1024, *tok->TokenId("\xC4\xA0" "b")}));
  // lstrip cannot reach into an earlier match: <R> took "  " already.
  EXPECT_EQ(*tok->Encode("<R>  <L>"), (std::vector<int32_t>{1025, 1024}));
  // Decoding gives the content, without the stripped whitespace.
  EXPECT_EQ(tok->Decode({a, 1024, b, 1025}), "a<L>b<R>");
  EXPECT_EQ(tok->Decode({a, 1024, b, 1025}, true), "ab<R>");
}

}  // namespace
}  // namespace bloom
