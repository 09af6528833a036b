// RUN: bloom-opt --split-input-file --verify-diagnostics --bloom-quantize-weights="weights=int4 group-size=64" %s

// Tests that a group size that does not divide the input dimension is
// refused at the weight: 96 columns are one and a half groups of 64.
func.func @step(%x: tensor<?x96xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{bloom-quantize-weights: group-size=64 does not divide the input dimension 96 of 'h.0.self_attention.dense.weight'}}
  %w = bloom.weight "h.0.self_attention.dense.weight" : tensor<8x96xf32>
  %y = bloom.linear %x, %w : (tensor<?x96xf32>, tensor<8x96xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that int4 refuses an odd input dimension: two values share a byte,
// so a row of 63 would end mid-byte (runtime/support/dtype.h,
// CheckStorageShape), whatever the group size.
func.func @step(%x: tensor<?x63xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{bloom-quantize-weights: int4 packs two values a byte, but 'h.0.mlp.dense_4h_to_h.weight' has an odd input dimension 63}}
  %w = bloom.weight "h.0.mlp.dense_4h_to_h.weight" : tensor<8x63xf32>
  %y = bloom.linear %x, %w : (tensor<?x63xf32>, tensor<8x63xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a graph whose weights are already quantized is refused rather
// than quantized twice.
func.func @step(%x: tensor<?x64xf32>) -> tensor<?x8xf32> {
  %q = bloom.weight "w" : tensor<8x64xi4>
  %s = bloom.weight "w.scales" : tensor<8x1xf16>
  %z = bloom.weight "w.zero_points" : tensor<8x1xi8>
  %w = bloom.dequantize %q, %s zero_points %z {group_size = 64 : i64} : (tensor<8x64xi4>, tensor<8x1xf16>, tensor<8x1xi8>) -> tensor<8x64xf32>
  // expected-error @+1 {{bloom-quantize-weights: the weights are already quantized}}
  %y = bloom.linear %x, %w : (tensor<?x64xf32>, tensor<8x64xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
