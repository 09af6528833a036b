// config.json parsing: both key spellings, defaults, and one error per
// missing or malformed key.
#include "models/bloom/config.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/unit/checkpoint/safetensors_bytes.h"

namespace bloom::model {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr char kLabel[] = "ckpt/config.json";

// bigscience/bloom-560m's config.json as published (mixed spellings:
// n_embed, n_layer, num_attention_heads).
constexpr char kBloom560m[] = R"({
  "apply_residual_connection_post_layernorm": false,
  "architectures": ["BloomForCausalLM"],
  "attention_dropout": 0.0,
  "attention_softmax_in_fp32": true,
  "bias_dropout_fusion": true,
  "bos_token_id": 1,
  "eos_token_id": 2,
  "hidden_dropout": 0.0,
  "hidden_size": 1024,
  "initializer_range": 0.02,
  "layer_norm_epsilon": 1e-05,
  "masked_softmax_fusion": true,
  "model_type": "bloom",
  "n_head": 16,
  "n_inner": null,
  "n_layer": 24,
  "offset_alibi": 100,
  "pad_token_id": 3,
  "pretraining_tp": 1,
  "skip_bias_add": true,
  "skip_bias_add_qkv": false,
  "slow_but_exact": false,
  "transformers_version": "4.27.0.dev0",
  "unk_token_id": 0,
  "use_cache": true,
  "vocab_size": 250880
})";

std::string ErrorOf(const std::string& json) {
  auto config = ParseBloomConfig(json, kLabel);
  if (config.ok()) return "<accepted>";
  return std::string(config.status().message());
}

TEST(BloomConfigTest, PublishedBloom560m) {
  auto config = ParseBloomConfig(kBloom560m, kLabel);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->vocab_size, 250880);
  EXPECT_EQ(config->hidden_size, 1024);
  EXPECT_EQ(config->num_heads, 16);
  EXPECT_EQ(config->num_layers, 24);
  EXPECT_EQ(config->head_dim(), 64);
  EXPECT_DOUBLE_EQ(config->layer_norm_epsilon, 1e-5);
  EXPECT_FALSE(config->apply_residual_connection_post_layernorm);
  EXPECT_EQ(config->bos_token_id, 1);
  EXPECT_EQ(config->eos_token_id, 2);
  EXPECT_EQ(config->pad_token_id, 3);
}

TEST(BloomConfigTest, OldSpellings) {
  auto config = ParseBloomConfig(
      R"({"vocab_size":100,"n_embed":64,"n_head":4,"n_layer":2})", kLabel);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->hidden_size, 64);
  EXPECT_EQ(config->num_heads, 4);
  EXPECT_EQ(config->num_layers, 2);
  EXPECT_EQ(config->head_dim(), 16);
}

TEST(BloomConfigTest, NewSpellingsAndDefaults) {
  auto config = ParseBloomConfig(
      R"({"vocab_size":100,"hidden_size":96,"num_attention_heads":3,"num_hidden_layers":5})",
      kLabel);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->hidden_size, 96);
  EXPECT_EQ(config->num_heads, 3);
  EXPECT_EQ(config->num_layers, 5);
  // BloomConfig's defaults.
  EXPECT_DOUBLE_EQ(config->layer_norm_epsilon, 1e-5);
  EXPECT_FALSE(config->apply_residual_connection_post_layernorm);
  EXPECT_EQ(config->bos_token_id, 1);
  EXPECT_EQ(config->eos_token_id, 2);
  EXPECT_EQ(config->pad_token_id, 3);
}

TEST(BloomConfigTest, BothSpellingsAgreeing) {
  auto config = ParseBloomConfig(
      R"({"vocab_size":100,"hidden_size":64,"n_embed":64,"n_head":4,"num_attention_heads":4,)"
      R"("n_layer":2,"num_hidden_layers":2})",
      kLabel);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->hidden_size, 64);
}

TEST(BloomConfigTest, BothSpellingsDisagreeing) {
  EXPECT_THAT(ErrorOf(R"({"vocab_size":100,"hidden_size":64,"n_embed":128,"n_head":4,"n_layer":2})"),
              AllOf(HasSubstr(kLabel), HasSubstr("'hidden_size' (64) and 'n_embed' (128) disagree")));
  EXPECT_THAT(ErrorOf(R"({"vocab_size":100,"n_embed":64,"n_head":4,"num_attention_heads":8,"n_layer":2})"),
              HasSubstr("'num_attention_heads' (8) and 'n_head' (4) disagree"));
  EXPECT_THAT(ErrorOf(R"({"vocab_size":100,"n_embed":64,"n_head":4,"n_layer":2,"num_hidden_layers":3})"),
              HasSubstr("'num_hidden_layers' (3) and 'n_layer' (2) disagree"));
}

TEST(BloomConfigTest, ResidualFlagAndEpsilon) {
  auto config = ParseBloomConfig(
      R"({"vocab_size":100,"n_embed":64,"n_head":4,"n_layer":2,)"
      R"("apply_residual_connection_post_layernorm":true,"layer_norm_epsilon":1e-6})",
      kLabel);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->apply_residual_connection_post_layernorm);
  EXPECT_DOUBLE_EQ(config->layer_norm_epsilon, 1e-6);
  // An integer epsilon is a number too.
  auto integral = ParseBloomConfig(
      R"({"vocab_size":100,"n_embed":64,"n_head":4,"n_layer":2,"layer_norm_epsilon":1})", kLabel);
  ASSERT_TRUE(integral.ok()) << integral.status();
  EXPECT_DOUBLE_EQ(integral->layer_norm_epsilon, 1.0);
}

TEST(BloomConfigTest, MissingVocabSize) {
  EXPECT_EQ(ErrorOf(R"({"n_embed":64,"n_head":4,"n_layer":2})"),
            std::string(kLabel) + ": missing key 'vocab_size'");
}

TEST(BloomConfigTest, MissingHiddenSize) {
  EXPECT_EQ(ErrorOf(R"({"vocab_size":100,"n_head":4,"n_layer":2})"),
            std::string(kLabel) + ": missing key 'hidden_size' (or 'n_embed')");
}

TEST(BloomConfigTest, MissingHeads) {
  EXPECT_EQ(ErrorOf(R"({"vocab_size":100,"n_embed":64,"n_layer":2})"),
            std::string(kLabel) + ": missing key 'num_attention_heads' (or 'n_head')");
}

TEST(BloomConfigTest, MissingLayers) {
  EXPECT_EQ(ErrorOf(R"({"vocab_size":100,"n_embed":64,"n_head":4})"),
            std::string(kLabel) + ": missing key 'num_hidden_layers' (or 'n_layer')");
}

TEST(BloomConfigTest, WrongTypes) {
  EXPECT_THAT(ErrorOf(R"({"vocab_size":"100","n_embed":64,"n_head":4,"n_layer":2})"),
              HasSubstr("'vocab_size' must be an integer, got string"));
  EXPECT_THAT(ErrorOf(R"({"vocab_size":100,"n_embed":64.5,"n_head":4,"n_layer":2})"),
              HasSubstr("'n_embed' must be an integer, got number"));
  EXPECT_THAT(ErrorOf(R"({"vocab_size":100,"n_embed":64,"n_head":true,"n_layer":2})"),
              HasSubstr("'n_head' must be an integer, got boolean"));
  EXPECT_THAT(ErrorOf(R"({"vocab_size":100,"n_embed":64,"n_head":4,"n_layer":null})"),
              HasSubstr("'n_layer' must be an integer, got null"));
  EXPECT_THAT(ErrorOf(R"({"vocab_size":100,"n_embed":64,"n_head":4,"n_layer":2,)"
                      R"("apply_residual_connection_post_layernorm":1})"),
              HasSubstr("'apply_residual_connection_post_layernorm' must be a boolean"));
  EXPECT_THAT(ErrorOf(R"({"vocab_size":100,"n_embed":64,"n_head":4,"n_layer":2,)"
                      R"("layer_norm_epsilon":"1e-5"})"),
              HasSubstr("'layer_norm_epsilon' must be a number"));
  EXPECT_THAT(ErrorOf(R"({"vocab_size":100,"n_embed":64,"n_head":4,"n_layer":2,"eos_token_id":"2"})"),
              HasSubstr("'eos_token_id' must be an integer"));
  EXPECT_THAT(ErrorOf(R"({"vocab_size":18446744073709551615,"n_embed":64,"n_head":4,"n_layer":2})"),
              HasSubstr("'vocab_size' is out of range"));
}

TEST(BloomConfigTest, NonPositiveSizes) {
  EXPECT_THAT(ErrorOf(R"({"vocab_size":0,"n_embed":64,"n_head":4,"n_layer":2})"),
              HasSubstr("'vocab_size' must be positive, got 0"));
  EXPECT_THAT(ErrorOf(R"({"vocab_size":100,"hidden_size":-64,"n_head":4,"n_layer":2})"),
              HasSubstr("'hidden_size' must be positive, got -64"));
  EXPECT_THAT(ErrorOf(R"({"vocab_size":100,"n_embed":64,"n_head":0,"n_layer":2})"),
              HasSubstr("'n_head' must be positive"));
  EXPECT_THAT(ErrorOf(R"({"vocab_size":100,"n_embed":64,"n_head":4,"num_hidden_layers":-1})"),
              HasSubstr("'num_hidden_layers' must be positive"));
}

TEST(BloomConfigTest, HiddenNotDivisibleByHeads) {
  EXPECT_THAT(ErrorOf(R"({"vocab_size":100,"n_embed":100,"n_head":3,"n_layer":2})"),
              HasSubstr("hidden size 100 is not divisible by the number of heads 3"));
}

TEST(BloomConfigTest, BadEpsilon) {
  EXPECT_THAT(ErrorOf(R"({"vocab_size":100,"n_embed":64,"n_head":4,"n_layer":2,"layer_norm_epsilon":0})"),
              HasSubstr("'layer_norm_epsilon' must be positive"));
  EXPECT_THAT(ErrorOf(R"({"vocab_size":100,"n_embed":64,"n_head":4,"n_layer":2,"layer_norm_epsilon":-1e-5})"),
              HasSubstr("'layer_norm_epsilon' must be positive"));
}

TEST(BloomConfigTest, ModelType) {
  EXPECT_THAT(ErrorOf(R"({"model_type":"gpt2","vocab_size":100,"n_embed":64,"n_head":4,"n_layer":2})"),
              HasSubstr("'model_type' must be \"bloom\", got \"gpt2\""));
  EXPECT_THAT(ErrorOf(R"({"model_type":7,"vocab_size":100,"n_embed":64,"n_head":4,"n_layer":2})"),
              HasSubstr("'model_type' must be \"bloom\", got number"));
}

TEST(BloomConfigTest, TokenIds) {
  auto config = ParseBloomConfig(
      R"({"vocab_size":100,"n_embed":64,"n_head":4,"n_layer":2,"bos_token_id":7,)"
      R"("eos_token_id":8,"pad_token_id":null})",
      kLabel);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->bos_token_id, 7);
  EXPECT_EQ(config->eos_token_id, 8);
  EXPECT_EQ(config->pad_token_id, 3);  // null keeps the default
  EXPECT_THAT(ErrorOf(R"({"vocab_size":100,"n_embed":64,"n_head":4,"n_layer":2,"eos_token_id":100})"),
              HasSubstr("'eos_token_id' 100 is outside the vocabulary [0, 100)"));
}

TEST(BloomConfigTest, NotJsonOrNotObject) {
  EXPECT_EQ(ErrorOf("{\"vocab_size\": 1,"), std::string(kLabel) + ": malformed JSON");
  EXPECT_EQ(ErrorOf(""), std::string(kLabel) + ": malformed JSON");
  EXPECT_EQ(ErrorOf("[1]"), std::string(kLabel) + ": must be a JSON object, got array");
}

TEST(BloomConfigTest, LoadFromFile) {
  std::string dir = testing::MakeTempDir();
  ASSERT_FALSE(dir.empty());
  std::string path = dir + "/config.json";
  ASSERT_TRUE(testing::WriteFile(path, kBloom560m));
  auto config = LoadBloomConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->num_layers, 24);

  ASSERT_TRUE(testing::WriteFile(path, R"({"vocab_size":100})"));
  auto bad = LoadBloomConfig(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), path + ": missing key 'hidden_size' (or 'n_embed')");

  auto missing = LoadBloomConfig(dir + "/absent.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_EQ(missing.status().message(), dir + "/absent.json: No such file or directory");
}

}  // namespace
}  // namespace bloom::model
