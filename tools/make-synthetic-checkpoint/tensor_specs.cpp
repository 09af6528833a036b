#include "tools/make-synthetic-checkpoint/tensor_specs.h"

#include "models/bloom/tensor_names.h"

namespace bloom::tools {
namespace {

// save_pretrained's spelling of a canonical (bare) tensor name.
std::string Stored(std::string_view canonical) {
  return "transformer." + std::string(canonical);
}

}  // namespace

int64_t SyntheticTensorSpec::NumElements() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

std::vector<SyntheticTensorSpec> BloomTensorSpecs(const model::BloomConfig& config,
                                                  bool tied_lm_head,
                                                  const SyntheticScales& scales) {
  const int64_t h = config.hidden_size;
  const int64_t v = config.vocab_size;
  const ValueDistribution weight{0.0f, scales.weight_stddev};
  const ValueDistribution gain{1.0f, scales.norm_gain_stddev};
  const ValueDistribution bias{0.0f, scales.bias_stddev};

  std::vector<SyntheticTensorSpec> specs;
  specs.push_back({Stored(model::kWordEmbeddings), {v, h}, weight});
  specs.push_back({Stored(model::kEmbeddingsNormWeight), {h}, gain});
  specs.push_back({Stored(model::kEmbeddingsNormBias), {h}, bias});
  for (int64_t layer = 0; layer < config.num_layers; ++layer) {
    const model::BlockTensorNames n = model::BlockNames(static_cast<int>(layer));
    specs.push_back({Stored(n.input_layernorm_weight), {h}, gain});
    specs.push_back({Stored(n.input_layernorm_bias), {h}, bias});
    // Fused QKV rows are laid out [heads, 3, head_dim]: 3h rows in all.
    specs.push_back({Stored(n.qkv_weight), {3 * h, h}, weight});
    specs.push_back({Stored(n.qkv_bias), {3 * h}, bias});
    specs.push_back({Stored(n.attn_dense_weight), {h, h}, weight});
    specs.push_back({Stored(n.attn_dense_bias), {h}, bias});
    specs.push_back({Stored(n.post_attention_layernorm_weight), {h}, gain});
    specs.push_back({Stored(n.post_attention_layernorm_bias), {h}, bias});
    specs.push_back({Stored(n.mlp_h_to_4h_weight), {4 * h, h}, weight});
    specs.push_back({Stored(n.mlp_h_to_4h_bias), {4 * h}, bias});
    specs.push_back({Stored(n.mlp_4h_to_h_weight), {h, 4 * h}, weight});
    specs.push_back({Stored(n.mlp_4h_to_h_bias), {h}, bias});
  }
  specs.push_back({Stored(model::kFinalNormWeight), {h}, gain});
  specs.push_back({Stored(model::kFinalNormBias), {h}, bias});
  // save_pretrained keeps an untied head outside "transformer.".
  if (!tied_lm_head) specs.push_back({std::string(model::kLmHead), {v, h}, weight});
  return specs;
}

}  // namespace bloom::tools
