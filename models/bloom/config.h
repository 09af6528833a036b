// The BLOOM family's config.json, as transformers' BloomConfig reads it.
// Both key spellings are accepted (bigscience repositories and
// save_pretrained differ): n_embed | hidden_size, n_head |
// num_attention_heads, n_layer | num_hidden_layers. Keys absent from the file
// take BloomConfig's defaults only where transformers has one that real
// checkpoints rely on (layer_norm_epsilon, the residual flag, token ids);
// the shape-defining keys (vocab_size, hidden size, heads, layers) are
// required.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace bloom::model {

struct BloomConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_heads = 0;
  int64_t num_layers = 0;
  double layer_norm_epsilon = 1e-5;
  // If true, the residual stream after each block's layer norms is the
  // normalised value rather than the block input (transformers' flag).
  bool apply_residual_connection_post_layernorm = false;
  int64_t bos_token_id = 1;
  int64_t eos_token_id = 2;
  int64_t pad_token_id = 3;

  int64_t head_dim() const { return hidden_size / num_heads; }
};

// Parses config.json text. `label` (the path) prefixes errors:
// "DIR/config.json: missing key 'n_head' (or 'num_attention_heads')".
// Validates: positive sizes, hidden_size divisible by heads, epsilon > 0,
// model_type "bloom" when present.
absl::StatusOr<BloomConfig> ParseBloomConfig(std::string_view json_text,
                                             std::string_view label);

// Reads and parses a config.json file.
absl::StatusOr<BloomConfig> LoadBloomConfig(const std::string& path);

}  // namespace bloom::model
