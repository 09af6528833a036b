#include "models/bloom/tensor_names.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace bloom::model {
namespace {

constexpr absl::string_view kPrefix = "transformer.";

absl::string_view View(std::string_view text) { return {text.data(), text.size()}; }

}  // namespace

BlockTensorNames BlockNames(int layer) {
  const std::string h = absl::StrCat("h.", layer, ".");
  BlockTensorNames names;
  names.input_layernorm_weight = absl::StrCat(h, "input_layernorm.weight");
  names.input_layernorm_bias = absl::StrCat(h, "input_layernorm.bias");
  names.qkv_weight = absl::StrCat(h, "self_attention.query_key_value.weight");
  names.qkv_bias = absl::StrCat(h, "self_attention.query_key_value.bias");
  names.attn_dense_weight = absl::StrCat(h, "self_attention.dense.weight");
  names.attn_dense_bias = absl::StrCat(h, "self_attention.dense.bias");
  names.post_attention_layernorm_weight = absl::StrCat(h, "post_attention_layernorm.weight");
  names.post_attention_layernorm_bias = absl::StrCat(h, "post_attention_layernorm.bias");
  names.mlp_h_to_4h_weight = absl::StrCat(h, "mlp.dense_h_to_4h.weight");
  names.mlp_h_to_4h_bias = absl::StrCat(h, "mlp.dense_h_to_4h.bias");
  names.mlp_4h_to_h_weight = absl::StrCat(h, "mlp.dense_4h_to_h.weight");
  names.mlp_4h_to_h_bias = absl::StrCat(h, "mlp.dense_4h_to_h.bias");
  return names;
}

absl::StatusOr<std::string> ResolveTensorName(const Checkpoint& checkpoint,
                                              std::string_view canonical) {
  if (canonical == kLmHead) {
    // save_pretrained keeps lm_head outside "transformer.", so there is no
    // prefixed spelling; without its own weight the head is tied.
    if (checkpoint.Contains(kLmHead)) return std::string(kLmHead);
    auto tied = ResolveTensorName(checkpoint, kWordEmbeddings);
    if (tied.ok()) return tied;
    return absl::NotFoundError(absl::StrCat(
        checkpoint.dir(), ": tensor '", View(kLmHead), "' not found: tried '", View(kLmHead),
        "' and the tied word embeddings '", View(kWordEmbeddings), "' / '", kPrefix,
        View(kWordEmbeddings), "'"));
  }
  if (checkpoint.Contains(canonical)) return std::string(canonical);
  std::string prefixed = absl::StrCat(kPrefix, View(canonical));
  if (checkpoint.Contains(prefixed)) return prefixed;
  return absl::NotFoundError(absl::StrCat(checkpoint.dir(), ": tensor '", View(canonical),
                                          "' not found: tried '", View(canonical), "' and '",
                                          prefixed, "'"));
}

}  // namespace bloom::model
