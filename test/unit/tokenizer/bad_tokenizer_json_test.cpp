// Bad tokenizer.json files, written by the test: each is refused with one
// line that names the file and the problem.
#include <string>

#include "gtest/gtest.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace bloom {
namespace {

using tokenizer_test::ReadJson;
using tokenizer_test::TinyTokenizerPath;
using tokenizer_test::WriteTempFile;
using Json = nlohmann::json;

// A small valid file in BLOOM's layout: vocab a b ab <s>, merge "a b".
Json MinimalJson() {
  return Json::parse(R"({
    "version": "1.0", "truncation": null, "padding": null,
    "added_tokens": [{"id": 3, "content": "<s>", "single_word": false, "lstrip": false,
                      "rstrip": false, "normalized": false, "special": true}],
    "normalizer": null,
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": " ?[^(\\s|[.,!?…。，、।۔،])]+"},
       "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]},
    "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false,
                       "use_regex": false},
    "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true,
                "use_regex": true},
    "model": {"type": "BPE", "dropout": null, "unk_token": null,
              "continuing_subword_prefix": null, "end_of_word_suffix": null,
              "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
              "vocab": {"a": 0, "b": 1, "ab": 2, "<s>": 3},
              "merges": ["a b"]}
  })");
}

// Loads `text` from a file named `name`; returns the error message, after
// checking that loading failed with one line that starts with the path.
std::string LoadError(const std::string& name, const std::string& text) {
  const std::string path = WriteTempFile(name, text);
  auto tok = Tokenizer::Load(path);
  if (tok.ok()) {
    ADD_FAILURE() << name << " loaded";
    return "";
  }
  const std::string message(tok.status().message());
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << message;
  return message.substr(std::min(message.size(), path.size() + 2));
}

TEST(BadTokenizerJsonTest, MinimalFileLoads) {
  auto tok = Tokenizer::FromJson(MinimalJson().dump(), "minimal");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(*tok->Encode("ab<s>ba"), (std::vector<int32_t>{2, 3, 1, 0}));
}

TEST(BadTokenizerJsonTest, MissingFile) {
  auto tok = Tokenizer::Load("/nonexistent/tokenizer.json");
  ASSERT_FALSE(tok.ok());
  EXPECT_NE(tok.status().message().find("/nonexistent/tokenizer.json"), absl::string_view::npos);
}

TEST(BadTokenizerJsonTest, MalformedJson) {
  EXPECT_EQ(LoadError("empty.json", "").rfind("malformed JSON: ", 0), 0u);
  const std::string truncated = MinimalJson().dump().substr(0, 200);
  EXPECT_EQ(LoadError("truncated.json", truncated).rfind("malformed JSON: ", 0), 0u);
  EXPECT_EQ(LoadError("invalid_utf8.json", "{\"a\": \"\xFF\"}").rfind("malformed JSON: ", 0), 0u);
  EXPECT_EQ(LoadError("array.json", "[1, 2]"), "expected a JSON object, found [1,2]");
}

TEST(BadTokenizerJsonTest, UnexpectedModelType) {
  Json j = MinimalJson();
  j["model"]["type"] = "WordPiece";
  EXPECT_EQ(LoadError("wordpiece.json", j.dump()),
            "model.type is \"WordPiece\"; only BPE (BLOOM's model) is supported");
  j = MinimalJson();
  j["model"] = 7;
  EXPECT_EQ(LoadError("model7.json", j.dump()), "model: expected an object, found 7");
  j = MinimalJson();
  j["model"]["dropout"] = 0.1;
  EXPECT_EQ(LoadError("dropout.json", j.dump()),
            "model.dropout is 0.1; BPE dropout (random merges) is not supported");
}

TEST(BadTokenizerJsonTest, MergesReferringToUnknownTokens) {
  Json j = MinimalJson();
  j["model"]["merges"] = {"a b", "b zz"};
  EXPECT_EQ(LoadError("merge_unknown.json", j.dump()),
            "model.merges[1] ('b' + 'zz'): its right token is not in model.vocab");
  j["model"]["merges"] = {"b a"};
  EXPECT_EQ(LoadError("merge_result.json", j.dump()),
            "model.merges[0] ('b' + 'a'): the merged token is not in model.vocab");
  j["model"]["merges"] = {"a b c"};
  EXPECT_EQ(LoadError("merge_three.json", j.dump()),
            "model.merges[0]: expected \"left right\" (two tokens, one space), found \"a b c\"");
  j["model"]["merges"] = Json::array({Json::array({"a"})});
  EXPECT_EQ(LoadError("merge_pair.json", j.dump()),
            "model.merges[0]: expected \"left right\" or [\"left\", \"right\"], found [\"a\"]");
}

TEST(BadTokenizerJsonTest, DuplicateAndOutOfRangeIds) {
  Json j = MinimalJson();
  j["model"]["vocab"]["b"] = 0;
  EXPECT_EQ(LoadError("duplicate_id.json", j.dump()),
            "model.vocab: tokens 'a' and 'b' have the same id 0");
  j = MinimalJson();
  j["model"]["vocab"]["ab"] = 4;
  EXPECT_EQ(LoadError("id_range.json", j.dump()),
            "model.vocab['ab']: id 4 is out of range [0, 4) (ids must number the vocab densely)");
  j = MinimalJson();
  j["model"]["vocab"]["a"] = -1;
  EXPECT_EQ(LoadError("negative_id.json", j.dump()),
            "model.vocab['a']: id -1 is out of range [0, 4) (ids must number the vocab densely)");
  j = MinimalJson();
  j["model"]["vocab"]["a"] = "0";
  EXPECT_EQ(LoadError("string_id.json", j.dump()),
            "model.vocab['a']: expected an integer id, found \"0\"");
}

TEST(BadTokenizerJsonTest, AddedTokensWithWrongIds) {
  Json j = MinimalJson();
  j["added_tokens"][0]["id"] = 2;
  EXPECT_EQ(LoadError("added_id.json", j.dump()),
            "added_tokens[0] ('<s>'): id 2 should be 3 (its id in model.vocab)");
  j = MinimalJson();
  j["added_tokens"].push_back({{"id", 9}, {"content", "<new>"}, {"special", true}});
  EXPECT_EQ(LoadError("added_new_id.json", j.dump()),
            "added_tokens[1] ('<new>'): id 9 should be 4 (the next id after model.vocab and "
            "earlier added tokens)");
  j = MinimalJson();
  j["added_tokens"].push_back(j["added_tokens"][0]);
  EXPECT_EQ(LoadError("added_twice.json", j.dump()),
            "added_tokens[1]: content '<s>' is listed twice");
  j = MinimalJson();
  j["added_tokens"][0]["single_word"] = true;
  EXPECT_EQ(LoadError("single_word.json", j.dump()),
            "added_tokens[0] ('<s>'): single_word is not supported");
  j = MinimalJson();
  j["added_tokens"][0]["content"] = "";
  EXPECT_EQ(LoadError("added_empty.json", j.dump()),
            "added_tokens[0].content: expected a non-empty string, found \"\"");
  j = MinimalJson();
  j["added_tokens"][0]["lstrip"] = "yes";
  EXPECT_EQ(LoadError("added_bool.json", j.dump()),
            "added_tokens[0].lstrip: expected true or false, found \"yes\"");
}

TEST(BadTokenizerJsonTest, PipelineOtherThanBlooms) {
  Json j = MinimalJson();
  j["normalizer"] = {{"type", "NFC"}};
  EXPECT_EQ(LoadError("normalizer.json", j.dump()),
            "normalizer is {\"type\":\"NFC\"}; BLOOM's tokenizer has none (null)");
  j = MinimalJson();
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\s+";
  const std::string pattern = LoadError("pattern.json", j.dump());
  EXPECT_EQ(pattern.rfind("pre_tokenizer: the Split pattern is {\"Regex\":\"\\\\s+\"}; expected "
                          "BLOOM's Sequence",
                          0),
            0u)
      << pattern;
  j = MinimalJson();
  j["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = true;
  EXPECT_EQ(LoadError("prefix_space.json", j.dump()).rfind("pre_tokenizer: pretokenizers[1] is ", 0),
            0u);
  j = MinimalJson();
  j["decoder"] = nullptr;
  EXPECT_EQ(LoadError("decoder.json", j.dump()), "decoder is null; expected ByteLevel");
  j = MinimalJson();
  j["truncation"] = {{"max_length", 512}};
  EXPECT_EQ(LoadError("truncation.json", j.dump()),
            "truncation is {\"max_length\":512}; expected null (callers truncate and pad)");
  j = MinimalJson();
  j["post_processor"] = {{"type", "TemplateProcessing"}};
  EXPECT_EQ(LoadError("template.json", j.dump()),
            "post_processor is {\"type\":\"TemplateProcessing\"}; expected null or ByteLevel "
            "(which adds no tokens)");
}

TEST(BadTokenizerJsonTest, TinyTokenizerVariantsFail) {
  // The real file with one merge changed to an unknown token.
  Json j = ReadJson(TinyTokenizerPath());
  j["model"]["merges"][5] = {"\xC4\xA0", "no-such-token"};
  EXPECT_NE(LoadError("tiny_bad_merge.json", j.dump()).find("model.merges[5]"),
            std::string::npos);
}

}  // namespace
}  // namespace bloom
