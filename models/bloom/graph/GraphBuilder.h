// Builds the `bloom` dialect graph of one step of a BLOOM model:
//
//   func.func @step(%token_ids: tensor<?xi32>, %positions: tensor<?xi32>,
//                   %sequence_slots: tensor<?xi32>, %logit_rows: tensor<?xi32>)
//       -> tensor<?xVxf32>
//
// embedding -> word_embeddings_layernorm -> num_layers blocks (exactly
// transformers' BloomBlock, including apply_residual_connection_post_layernorm)
// -> ln_f -> gather_rows(logit_rows) -> lm_head (tied to the embedding table
// unless the checkpoint has lm_head.weight). The graph is the unfused form,
// one op per step of transformers' computation (attention as split_heads,
// kv_cache_append, attention_scores, alibi_bias, causal_mask, softmax,
// attention_context, merge_heads; gelu after its linear; each residual add
// before its layer norm): fusing is --bloom-fuse's job, and all element types
// are f32 until --bloom-assign-precision. Every op's location is a NameLoc
// with its tensor name ("h.3.attn_norm", "logits", ...); module attributes
// record the config, the checkpoint directory and the token ids.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "models/bloom/config.h"
#include "models/bloom/graph/WeightResolver.h"

namespace bloom::model {

// Loads the dialects it needs into `context`. Errors (a missing tensor, a
// shape that disagrees with the config) name the tensor.
absl::StatusOr<mlir::OwningOpRef<mlir::ModuleOp>> BuildBloomGraph(
    mlir::MLIRContext& context, const BloomConfig& config,
    const WeightResolver& weights, std::string_view model_name);

}  // namespace bloom::model
