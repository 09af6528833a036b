// RUN: bloom-opt --split-input-file --verify-diagnostics %s

// Tests that a weight's source is all or nothing.
func.func @weight_partial_source() -> tensor<4xf32> {
  // expected-error @+1 {{needs all of file, tensor and stored_dtype or none}}
  %0 = "bloom.weight"() {name = "w", file = "model.safetensors"} : () -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Tests that the embedding result has the table's hidden size.
func.func @embedding_hidden(%ids: tensor<?xi32>, %t: tensor<16x8xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{result must have shape [?, 8]}}
  %0 = bloom.embedding %ids, %t : (tensor<?xi32>, tensor<16x8xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// Tests that layer norm parameters match the hidden size.
func.func @layer_norm_gamma(%x: tensor<?x8xf32>, %g: tensor<4xf32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{gamma must have shape [8]}}
  %0 = bloom.layer_norm %x, %g, %b {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<4xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Tests that layer norm needs a positive epsilon.
func.func @layer_norm_epsilon(%x: tensor<?x8xf32>, %g: tensor<8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{epsilon must be positive}}
  %0 = bloom.layer_norm %x, %g, %g {epsilon = 0.0 : f32} : (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Tests that a linear weight is [out, in] with in = x's columns.
func.func @linear_transposed(%x: tensor<?x8xf32>, %w: tensor<8x24xf32>) -> tensor<?x24xf32> {
  // expected-error @+1 {{must be [out, in] with in = 8}}
  %0 = bloom.linear %x, %w : (tensor<?x8xf32>, tensor<8x24xf32>) -> tensor<?x24xf32>
  return %0 : tensor<?x24xf32>
}

// -----

// Tests that a linear bias has the output size.
func.func @linear_bias(%x: tensor<?x8xf32>, %w: tensor<24x8xf32>, %b: tensor<8xf32>) -> tensor<?x24xf32> {
  // expected-error @+1 {{bias must have shape [24]}}
  %0 = bloom.linear %x, %w, %b : (tensor<?x8xf32>, tensor<24x8xf32>, tensor<8xf32>) -> tensor<?x24xf32>
  return %0 : tensor<?x24xf32>
}

// -----

// Tests that attention needs one ALiBi slope per head.
func.func @attention_slopes(%x: tensor<?x8xf32>, %w: tensor<24x8xf32>, %p: tensor<?xi32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{needs one ALiBi slope per head: 2 heads, 1 slopes}}
  %0 = bloom.alibi_attention %x, %w, %p, %p {layer = 0 : i64, num_heads = 2 : i64, head_dim = 4 : i64, alibi_slopes = array<f32: 0.5>} : (tensor<?x8xf32>, tensor<24x8xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Tests that attention's QKV weight has 3 * heads * head_dim rows.
func.func @attention_qkv(%x: tensor<?x8xf32>, %w: tensor<16x8xf32>, %p: tensor<?xi32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{qkv_weight must have shape [24, 8]}}
  %0 = bloom.alibi_attention %x, %w, %p, %p {layer = 0 : i64, num_heads = 2 : i64, head_dim = 4 : i64, alibi_slopes = array<f32: 0.5, 0.25>} : (tensor<?x8xf32>, tensor<16x8xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Tests that gather_rows yields one row per index.
func.func @gather_rows_count(%x: tensor<?x8xf32>, %rows: tensor<3xi32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{result must have shape [3, 8]}}
  %0 = bloom.gather_rows %x, %rows : (tensor<?x8xf32>, tensor<3xi32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// Tests that the LM head's weight is [vocab, hidden].
func.func @lm_head_weight(%x: tensor<?x8xf32>, %w: tensor<8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{must be [vocab, hidden] with hidden = 8}}
  %0 = bloom.lm_head %x, %w : (tensor<?x8xf32>, tensor<8x16xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Tests that precision types are plan.fbs's floats.
func.func @precision_type(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{precision types must be f32, f16 or bf16, got 'i32'}}
  %0 = bloom.gelu %x {precision = #bloom.precision<compute = i32, accumulate = f32>} : tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Tests that add_layer_norm's addends and sum share one type.
func.func @add_layer_norm_types(%a: tensor<?x8xf32>, %b: tensor<?x8xbf16>, %g: tensor<8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{a, b and sum must have one type}}
  %s, %n = bloom.add_layer_norm %a, %b, %g, %g {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<?x8xbf16>, tensor<8xf32>, tensor<8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>)
  return %s : tensor<?x8xf32>
}

// -----

// Tests that split_heads checks the [heads, 3, head_dim] row size.
func.func @split_heads_size(%qkv: tensor<?x20xf32>) -> tensor<?x2x4xf32> {
  // expected-error @+1 {{qkv must have shape [?, 24]}}
  %q, %k, %v = bloom.split_heads %qkv {num_heads = 2 : i64, head_dim = 4 : i64} : tensor<?x20xf32> -> tensor<?x2x4xf32>, tensor<?x2x4xf32>, tensor<?x2x4xf32>
  return %q : tensor<?x2x4xf32>
}

// -----

// Tests that the cache stores keys in its own element type.
func.func @kv_cache_type(%k: tensor<?x2x4xbf16>, %p: tensor<?xi32>) -> !bloom.kv_cache<heads = 2, head_dim = 4, f32> {
  // expected-error @+1 {{stores 'bf16' keys in a cache of 'f32'}}
  %c = bloom.kv_cache_append %k, %k, %p, %p {layer = 0 : i64} : (tensor<?x2x4xbf16>, tensor<?x2x4xbf16>, tensor<?xi32>, tensor<?xi32>) -> !bloom.kv_cache<heads = 2, head_dim = 4, f32>
  return %c : !bloom.kv_cache<heads = 2, head_dim = 4, f32>
}

// -----

// Tests that alibi_bias needs one slope per head.
func.func @alibi_bias_slopes(%s: tensor<?x2x?xf32>) -> tensor<?x2x?xf32> {
  // expected-error @+1 {{needs one ALiBi slope per head: 2 heads, 3 slopes}}
  %b = bloom.alibi_bias %s {alibi_slopes = array<f32: 0.5, 0.25, 0.125>} : tensor<?x2x?xf32> -> tensor<?x2x?xf32>
  return %b : tensor<?x2x?xf32>
}

// -----

// Tests that a weight slice matches the result's extent along its dimension.
func.func @slice_extent() -> tensor<4x8xf32> {
  // expected-error @+1 {{slice [0, 8) of dimension 0 does not match the result 'tensor<4x8xf32>'}}
  %0 = bloom.weight "w" slice(dim = 0, begin = 0, end = 8) : tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// Tests that a slice names a dimension the tensor has.
func.func @slice_dim() -> tensor<4xf32> {
  // expected-error @+1 {{slices dimension 1 of a rank-1 tensor}}
  %0 = bloom.weight "w" slice(dim = 1, begin = 0, end = 4) : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Tests that a vocab-parallel table lies inside the vocabulary.
func.func @vocab_range(%ids: tensor<?xi32>, %t: tensor<16x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{table rows [24, 40) do not lie in the vocabulary of 32}}
  %0 = bloom.embedding %ids, %t {vocab_begin = 24 : i64, vocab_size = 32 : i64} : (tensor<?xi32>, tensor<16x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Tests that an all-gather's result has num_ranks times the columns.
func.func @gather_columns(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  // expected-error @+1 {{result must have shape [?, 32]}}
  %0 = bloom.all_gather %x {num_ranks = 2 : i64} : tensor<?x16xf32> -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

// Tests that an all-reduce keeps its operand's type.
func.func @reduce_type(%x: tensor<?x16xf32>) -> tensor<?x16xbf16> {
  // expected-error @+1 {{requires the same type for all operands and results}}
  %0 = "bloom.all_reduce"(%x) : (tensor<?x16xf32>) -> tensor<?x16xbf16>
  return %0 : tensor<?x16xbf16>
}
