// Canonical BLOOM tensor names and their resolution against checkpoints
// written bare (bigscience), "transformer."-prefixed (save_pretrained), with
// a tied or an untied LM head.
#include "models/bloom/tensor_names.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/unit/checkpoint/safetensors_bytes.h"

namespace bloom::model {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(BlockNamesTest, MatchesTransformersStateDictKeys) {
  BlockTensorNames n = BlockNames(3);
  EXPECT_EQ(n.input_layernorm_weight, "h.3.input_layernorm.weight");
  EXPECT_EQ(n.input_layernorm_bias, "h.3.input_layernorm.bias");
  EXPECT_EQ(n.qkv_weight, "h.3.self_attention.query_key_value.weight");
  EXPECT_EQ(n.qkv_bias, "h.3.self_attention.query_key_value.bias");
  EXPECT_EQ(n.attn_dense_weight, "h.3.self_attention.dense.weight");
  EXPECT_EQ(n.attn_dense_bias, "h.3.self_attention.dense.bias");
  EXPECT_EQ(n.post_attention_layernorm_weight, "h.3.post_attention_layernorm.weight");
  EXPECT_EQ(n.post_attention_layernorm_bias, "h.3.post_attention_layernorm.bias");
  EXPECT_EQ(n.mlp_h_to_4h_weight, "h.3.mlp.dense_h_to_4h.weight");
  EXPECT_EQ(n.mlp_h_to_4h_bias, "h.3.mlp.dense_h_to_4h.bias");
  EXPECT_EQ(n.mlp_4h_to_h_weight, "h.3.mlp.dense_4h_to_h.weight");
  EXPECT_EQ(n.mlp_4h_to_h_bias, "h.3.mlp.dense_4h_to_h.bias");
  EXPECT_EQ(BlockNames(69).qkv_bias, "h.69.self_attention.query_key_value.bias");
}

// Writes a checkpoint whose tensors are `names` (one F32 element each).
Checkpoint WriteCheckpoint(const std::vector<std::string>& names) {
  std::vector<testing::TestTensor> tensors;
  for (const std::string& name : names) {
    tensors.push_back({name, "F32", {1}, testing::F32Bytes({1.0f})});
  }
  std::string dir = testing::MakeTempDir();
  EXPECT_TRUE(testing::WriteFile(dir + "/model.safetensors", testing::BuildSafetensors(tensors)));
  auto checkpoint = Checkpoint::Open(dir);
  EXPECT_TRUE(checkpoint.ok()) << checkpoint.status();
  return std::move(checkpoint).value();
}

TEST(ResolveTensorNameTest, BareNames) {
  Checkpoint checkpoint = WriteCheckpoint(
      {"word_embeddings.weight", "h.0.self_attention.dense.bias", "ln_f.weight"});
  EXPECT_EQ(*ResolveTensorName(checkpoint, kWordEmbeddings), "word_embeddings.weight");
  EXPECT_EQ(*ResolveTensorName(checkpoint, BlockNames(0).attn_dense_bias),
            "h.0.self_attention.dense.bias");
  EXPECT_EQ(*ResolveTensorName(checkpoint, kFinalNormWeight), "ln_f.weight");
  // Tied head: no lm_head.weight, so the embeddings serve.
  EXPECT_EQ(*ResolveTensorName(checkpoint, kLmHead), "word_embeddings.weight");
}

TEST(ResolveTensorNameTest, PrefixedNames) {
  Checkpoint checkpoint = WriteCheckpoint(
      {"transformer.word_embeddings.weight", "transformer.word_embeddings_layernorm.bias",
       "transformer.h.2.mlp.dense_h_to_4h.weight"});
  EXPECT_EQ(*ResolveTensorName(checkpoint, kEmbeddingsNormBias),
            "transformer.word_embeddings_layernorm.bias");
  EXPECT_EQ(*ResolveTensorName(checkpoint, BlockNames(2).mlp_h_to_4h_weight),
            "transformer.h.2.mlp.dense_h_to_4h.weight");
  EXPECT_EQ(*ResolveTensorName(checkpoint, kLmHead), "transformer.word_embeddings.weight");
}

TEST(ResolveTensorNameTest, UntiedLmHead) {
  Checkpoint checkpoint =
      WriteCheckpoint({"transformer.word_embeddings.weight", "lm_head.weight"});
  EXPECT_EQ(*ResolveTensorName(checkpoint, kLmHead), "lm_head.weight");
  EXPECT_EQ(*ResolveTensorName(checkpoint, kWordEmbeddings), "transformer.word_embeddings.weight");
}

TEST(ResolveTensorNameTest, MissingTensorNamesBothSpellings) {
  Checkpoint checkpoint = WriteCheckpoint({"word_embeddings.weight"});
  auto name = ResolveTensorName(checkpoint, "h.5.input_layernorm.weight");
  ASSERT_FALSE(name.ok());
  EXPECT_TRUE(absl::IsNotFound(name.status()));
  EXPECT_THAT(std::string(name.status().message()),
              AllOf(HasSubstr(checkpoint.dir() + ": "), HasSubstr("'h.5.input_layernorm.weight'"),
                    HasSubstr("'transformer.h.5.input_layernorm.weight'")));
}

TEST(ResolveTensorNameTest, MissingLmHeadAndEmbeddings) {
  Checkpoint checkpoint = WriteCheckpoint({"ln_f.weight"});
  auto name = ResolveTensorName(checkpoint, kLmHead);
  ASSERT_FALSE(name.ok());
  EXPECT_TRUE(absl::IsNotFound(name.status()));
  EXPECT_THAT(std::string(name.status().message()),
              AllOf(HasSubstr(checkpoint.dir()), HasSubstr("'lm_head.weight'"),
                    HasSubstr("'word_embeddings.weight'"),
                    HasSubstr("'transformer.word_embeddings.weight'")));
}

}  // namespace
}  // namespace bloom::model
