// RUN: bloom-opt --split-input-file --verify-diagnostics --bloom-partition-tp="tp=2 rank=0" --bloom-quantize-weights="weights=int4 group-size=256" %s

// Tests that a tensor-parallel slice never splits a group: at tp=2 the
// row-parallel attention dense [256, 256] leaves each rank 128 input
// columns, half a group of 256. (The QKV before it is column-parallel: its
// rows are sliced, each keeps all 256 columns, one whole group.)
func.func @step(%x: tensor<?x256xf32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>) -> tensor<?x256xf32> {
  %qkv = bloom.weight "h.0.self_attention.query_key_value.weight" : tensor<768x256xf32>
  %c = bloom.alibi_attention %x, %qkv, %pos, %slots {layer = 0 : i64, num_heads = 2 : i64, head_dim = 128 : i64, alibi_slopes = array<f32: 0.0625, 0.00390625>} : (tensor<?x256xf32>, tensor<768x256xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x256xf32>
  // expected-error @+1 {{bloom-quantize-weights: 'h.0.self_attention.dense.weight' is row-parallel at tp=2: each rank's 128 input columns are not a multiple of group-size=256 (a tensor-parallel slice must not split a group)}}
  %dw = bloom.weight "h.0.self_attention.dense.weight" : tensor<256x256xf32>
  %d = bloom.linear %c, %dw : (tensor<?x256xf32>, tensor<256x256xf32>) -> tensor<?x256xf32>
  return %d : tensor<?x256xf32>
}
