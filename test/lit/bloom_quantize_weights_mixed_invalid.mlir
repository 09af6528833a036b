// RUN: bloom-opt --split-input-file --verify-diagnostics --bloom-quantize-weights="weights=int4 group-size=4 quantize-lm-head=true lm-head-weights=int8" %s

// Tests that a weight read both by a block's linear and by the LM head is
// refused when the two are to be stored differently: one bloom.weight
// becomes one quantized weight, in one format.
func.func @step(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %w = bloom.weight "h.0.self_attention.dense.weight" : tensor<8x8xf32>
  %y = bloom.linear %x, %w : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  // expected-error @+1 {{bloom-quantize-weights: 'h.0.self_attention.dense.weight' is both a block's linear weight (int4) and the LM head's (int8); one weight is stored one way}}
  %l = bloom.lm_head %y, %w : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  return %l : tensor<?x8xf32>
}

// -----

// Tests that the int8 head does not hide the blocks' group check: the
// blocks' weight [8, 6] is not whole groups of 4, while the head [16, 8]
// (per channel) would be fine.
func.func @step(%ids: tensor<?xi32>, %x: tensor<?x6xf32>) -> tensor<?x16xf32> {
  // expected-error @+1 {{bloom-quantize-weights: group-size=4 does not divide the input dimension 6 of 'h.0.self_attention.dense.weight'}}
  %w = bloom.weight "h.0.self_attention.dense.weight" : tensor<8x6xf32>
  %y = bloom.linear %x, %w : (tensor<?x6xf32>, tensor<8x6xf32>) -> tensor<?x8xf32>
  %t = bloom.weight "word_embeddings.weight" : tensor<16x8xf32>
  %l = bloom.lm_head %y, %t : (tensor<?x8xf32>, tensor<16x8xf32>) -> tensor<?x16xf32>
  return %l : tensor<?x16xf32>
}
