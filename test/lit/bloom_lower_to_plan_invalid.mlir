// RUN: bloom-opt --bloom-lower-to-plan --split-input-file --verify-diagnostics %s

// Tests that the step must return logits for the selected rows only.
func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x16xf32> {
  %table = bloom.weight "word_embeddings.weight" : tensor<16x8xf32>
  %e = bloom.embedding %ids, %table : (tensor<?xi32>, tensor<16x8xf32>) -> tensor<?x8xf32>
  %logits = bloom.lm_head %e, %table : (tensor<?x8xf32>, tensor<16x8xf32>) -> tensor<?x16xf32>
  // expected-error @+1 {{must return a value with one row per logit row}}
  return %logits : tensor<?x16xf32>
}

// -----

// Tests that a module without @step is rejected.
// expected-error @+1 {{no func.func @step}}
module {
  func.func @other() {
    return
  }
}

// -----

// Tests that all attention layers must share one KV-cache shape.
func.func @step(%qkv: tensor<?x24xf32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) {
  %a = bloom.alibi_attention %qkv, %pos, %slots {layer = 0 : i64, num_heads = 2 : i64, head_dim = 4 : i64, alibi_slopes = array<f32: 0.25, 0.0625>} : (tensor<?x24xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x8xf32>
  // expected-error @+1 {{has 1 heads of 8 but an earlier layer has 2 of 4}}
  %b = bloom.alibi_attention %qkv, %pos, %slots {layer = 1 : i64, num_heads = 1 : i64, head_dim = 8 : i64, alibi_slopes = array<f32: 0.5>} : (tensor<?x24xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x8xf32>
  return
}
