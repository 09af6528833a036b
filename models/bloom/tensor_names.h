// BLOOM's checkpoint tensor names. The graph uses canonical, bare names
// ("word_embeddings.weight", "h.3.self_attention.query_key_value.bias");
// checkpoints store them bare (bigscience repositories) or with a
// "transformer." prefix (save_pretrained). The LM head is tied to the word
// embeddings unless a checkpoint has its own "lm_head.weight".
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/checkpoint/checkpoint.h"

namespace bloom::model {

// Canonical names of one block's tensors.
struct BlockTensorNames {
  std::string input_layernorm_weight, input_layernorm_bias;
  std::string qkv_weight, qkv_bias;
  std::string attn_dense_weight, attn_dense_bias;
  std::string post_attention_layernorm_weight, post_attention_layernorm_bias;
  std::string mlp_h_to_4h_weight, mlp_h_to_4h_bias;
  std::string mlp_4h_to_h_weight, mlp_4h_to_h_bias;
};

BlockTensorNames BlockNames(int layer);
inline constexpr std::string_view kWordEmbeddings = "word_embeddings.weight";
inline constexpr std::string_view kEmbeddingsNormWeight = "word_embeddings_layernorm.weight";
inline constexpr std::string_view kEmbeddingsNormBias = "word_embeddings_layernorm.bias";
inline constexpr std::string_view kFinalNormWeight = "ln_f.weight";
inline constexpr std::string_view kFinalNormBias = "ln_f.bias";
inline constexpr std::string_view kLmHead = "lm_head.weight";

// Maps a canonical name to the name stored in `checkpoint`: the bare name if
// present, else "transformer." + name. For kLmHead, "lm_head.weight" if
// present, else the word embeddings' stored name (tied). NotFound error
// naming the canonical name, both spellings tried, and the directory.
absl::StatusOr<std::string> ResolveTensorName(const Checkpoint& checkpoint,
                                              std::string_view canonical);

}  // namespace bloom::model
