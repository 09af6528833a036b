// Parity with Hugging Face tokenizers 0.23 on its own outputs:
// test/golden/tokenizer_cases.json (made by make_goldens.py),
// test/golden/tokenizer_cases_extra.json (make_tokenizer_cases.py) and the
// tiny-random-text generation golden. Every id and every decoded byte must
// match exactly.
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/utf8.h"
#include "tokenizer_test_util.h"

namespace bloom {
namespace {

using tokenizer_test::ReadJson;
using tokenizer_test::RepoPath;
using tokenizer_test::TinyTokenizerPath;
using Json = nlohmann::json;

std::vector<int32_t> Ids(const Json& j) { return j.get<std::vector<int32_t>>(); }

// Streams `ids` through a StreamDecoder and checks that every chunk is
// valid UTF-8 and that the chunks add up to `expected`.
void ExpectStreamDecodes(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip,
                         const std::string& expected) {
  Tokenizer::StreamDecoder stream(tok, skip);
  std::string joined;
  for (int32_t id : ids) {
    const std::string chunk = stream.Next(id);
    EXPECT_TRUE(tokenizer::ValidateUtf8(chunk).ok()) << "partial character in a chunk";
    joined += chunk;
  }
  joined += stream.Finish();
  EXPECT_EQ(joined, expected);
}

// Checks encode, both decodes and the stream decoder on cases of the form
// {text, ids[, decoded, decoded_skip]}; `decode_is_text` for the original
// goldens, which assert decode(ids) == text.
void CheckEncodeCases(const Tokenizer& tok, const Json& cases, bool decode_is_text,
                      const std::string& where) {
  ASSERT_TRUE(cases.is_array()) << where;
  ASSERT_GT(cases.size(), 0u) << where;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Json& c = cases[i];
    const std::string text = c.at("text").get<std::string>();
    const std::vector<int32_t> ids = Ids(c.at("ids"));
    SCOPED_TRACE(where + "[" + std::to_string(i) + "]: " + Json(text).dump());
    auto encoded = tok.Encode(text);
    ASSERT_TRUE(encoded.ok()) << encoded.status();
    EXPECT_EQ(*encoded, ids);
    const std::string decoded =
        decode_is_text ? text : c.at("decoded").get<std::string>();
    EXPECT_EQ(tok.Decode(ids), decoded);
    ExpectStreamDecodes(tok, ids, false, decoded);
    if (c.contains("decoded_skip")) {
      const std::string skipped = c.at("decoded_skip").get<std::string>();
      EXPECT_EQ(tok.Decode(ids, /*skip_special_tokens=*/true), skipped);
      ExpectStreamDecodes(tok, ids, true, skipped);
    }
    if (c.contains("tokens")) {
      const auto tokens = c.at("tokens").get<std::vector<std::string>>();
      ASSERT_EQ(tokens.size(), ids.size());
      for (size_t k = 0; k < ids.size(); ++k) {
        // tokenizers reports an lstrip/rstrip match with its whitespace;
        // TokenString gives the token's content.
        const auto s = tok.TokenString(ids[k]);
        ASSERT_TRUE(s.has_value());
        EXPECT_NE(tokens[k].find(std::string(*s)), std::string::npos) << tokens[k];
      }
    }
  }
}

void CheckDecodeCases(const Tokenizer& tok, const Json& cases, const std::string& where) {
  ASSERT_TRUE(cases.is_array()) << where;
  ASSERT_GT(cases.size(), 0u) << where;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Json& c = cases[i];
    const std::vector<int32_t> ids = Ids(c.at("ids"));
    SCOPED_TRACE(where + "[" + std::to_string(i) + "]: " + c.at("ids").dump());
    const std::string decoded = c.at("decoded").get<std::string>();
    const std::string skipped = c.at("decoded_skip").get<std::string>();
    EXPECT_EQ(tok.Decode(ids), decoded);
    EXPECT_EQ(tok.Decode(ids, true), skipped);
    ExpectStreamDecodes(tok, ids, false, decoded);
    ExpectStreamDecodes(tok, ids, true, skipped);
  }
}

class GoldenParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = Tokenizer::Load(TinyTokenizerPath());
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    tok_.emplace(std::move(*loaded));
  }
  std::optional<Tokenizer> tok_;
};

TEST_F(GoldenParityTest, TokenizerCases) {
  const Json golden = ReadJson(RepoPath("test/golden/tokenizer_cases.json"));
  ASSERT_EQ(golden.at("cases").size(), 14u);
  CheckEncodeCases(*tok_, golden.at("cases"), /*decode_is_text=*/true, "tokenizer_cases");
}

TEST_F(GoldenParityTest, ExtraEncodeCases) {
  const Json extra = ReadJson(RepoPath("test/golden/tokenizer_cases_extra.json"));
  CheckEncodeCases(*tok_, extra.at("encode_cases"), false, "encode_cases");
}

TEST_F(GoldenParityTest, ExtraDecodeCases) {
  const Json extra = ReadJson(RepoPath("test/golden/tokenizer_cases_extra.json"));
  CheckDecodeCases(*tok_, extra.at("decode_cases"), "decode_cases");
}

TEST_F(GoldenParityTest, TinyRandomGenerationText) {
  // tokenizers' decode of random generated ids (with U+FFFD in it), and of
  // prompt + generated.
  const Json g = ReadJson(RepoPath("test/golden/cases/tiny-random-text/golden.json"));
  const auto prompt = Ids(g.at("prompt_tokens"));
  const auto generated = Ids(g.at("generated_tokens"));
  auto encoded = tok_->Encode(g.at("prompt_text").get<std::string>());
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(*encoded, prompt);
  // Made with decode()'s default, skip_special_tokens=True.
  EXPECT_EQ(tok_->Decode(generated, true), g.at("generated_text").get<std::string>());
  std::vector<int32_t> all = prompt;
  all.insert(all.end(), generated.begin(), generated.end());
  EXPECT_EQ(tok_->Decode(all, true), g.at("full_text").get<std::string>());
  EXPECT_NE(g.at("generated_text").get<std::string>().find("\xEF\xBF\xBD"), std::string::npos);
}

TEST(GoldenParityVariantTest, AddedTokensVariant) {
  // The tiny tokenizer.json with the variant's added_tokens spliced in: the
  // file tokenizers would have saved for it.
  Json json = ReadJson(TinyTokenizerPath());
  const Json extra = ReadJson(RepoPath("test/golden/tokenizer_cases_extra.json"));
  const Json& variant = extra.at("added_variant");
  json["added_tokens"] = variant.at("added_tokens");
  auto tok = Tokenizer::FromJson(json.dump(), "variant");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(tok->vocab_size(), variant.at("vocab_size").get<int32_t>());
  CheckEncodeCases(*tok, variant.at("encode_cases"), false, "added_variant.encode_cases");
  CheckDecodeCases(*tok, variant.at("decode_cases"), "added_variant.decode_cases");
}

TEST(GoldenParityVariantTest, LegacyMergeStringsGiveTheSameIds) {
  // Released BLOOM files spell merges "a b"; the tiny one ["a", "b"].
  Json json = ReadJson(TinyTokenizerPath());
  Json legacy = Json::array();
  for (const Json& pair : json.at("model").at("merges")) {
    legacy.push_back(pair[0].get<std::string>() + " " + pair[1].get<std::string>());
  }
  json["model"]["merges"] = legacy;
  auto tok = Tokenizer::FromJson(json.dump(), "legacy");
  ASSERT_TRUE(tok.ok()) << tok.status();
  const Json golden = ReadJson(RepoPath("test/golden/tokenizer_cases.json"));
  CheckEncodeCases(*tok, golden.at("cases"), true, "tokenizer_cases (legacy merges)");
}

}  // namespace
}  // namespace bloom
