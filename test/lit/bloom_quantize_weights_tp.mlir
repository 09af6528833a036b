// RUN: bloom-opt --bloom-partition-tp="tp=2 rank=1" --bloom-quantize-weights="weights=int4 group-size=64" %s | FileCheck %s
// RUN: bloom-opt --bloom-partition-tp="tp=2 rank=1" --bloom-quantize-weights=weights=int8 %s | FileCheck %s --check-prefix=INT8

// Tests quantization after a tp=2 partition (rank 1) of one fused block
// (hidden 256, 2 heads of 128, MLP 1024): each rank's slice is quantized,
// its groups counted in the slice. With group-size 64:
//   QKV   rows [384, 768) of [768, 256] -> [384, 256], 256/64 = 4 groups: [384, 4]
//   dense columns [128, 256) -> [256, 128] (row-parallel), 128/64 = 2: [256, 2]
//   h->4h rows [512, 1024) -> [512, 256], 4 groups: [512, 4]
//   4h->h columns [512, 1024) -> [256, 512] (row-parallel), 8 groups: [256, 8]
// The values keep the slice (the rank loads only its bytes); a row-parallel
// slice starts at column 128 or 512, a multiple of 64, so its groups are
// the unpartitioned weight's groups 2..3 and 8..15.
// CHECK: bloom.quantization = {group_size = 64 : i64, lm_head = false, weights = "int4"}
// CHECK: bloom.weight "h.0.self_attention.query_key_value.weight" slice(dim = 0, begin = 384, end = 768) : tensor<384x256xi4>
// CHECK-NEXT: bloom.weight "h.0.self_attention.query_key_value.weight.scales" : tensor<384x4xf16>
// CHECK: bloom.weight "h.0.self_attention.dense.weight" slice(dim = 1, begin = 128, end = 256) : tensor<256x128xi4>
// CHECK-NEXT: bloom.weight "h.0.self_attention.dense.weight.scales" : tensor<256x2xf16>
// CHECK-NEXT: bloom.weight "h.0.self_attention.dense.weight.zero_points" : tensor<256x2xi8>
// CHECK: bloom.weight "h.0.mlp.dense_h_to_4h.weight" slice(dim = 0, begin = 512, end = 1024) : tensor<512x256xi4>
// CHECK-NEXT: bloom.weight "h.0.mlp.dense_h_to_4h.weight.scales" : tensor<512x4xf16>
// CHECK: bloom.weight "h.0.mlp.dense_4h_to_h.weight" slice(dim = 1, begin = 512, end = 1024) : tensor<256x512xi4>
// CHECK-NEXT: bloom.weight "h.0.mlp.dense_4h_to_h.weight.scales" : tensor<256x8xf16>
//
// int8 per channel: one scale per output row of the rank's slice, so a
// row-parallel weight's scales are [256, 1] on each rank (over the rank's
// columns: per channel of the slice, which no slice can split).
// INT8: bloom.weight "h.0.self_attention.dense.weight" slice(dim = 1, begin = 128, end = 256) : tensor<256x128xi8>
// INT8-NEXT: bloom.weight "h.0.self_attention.dense.weight.scales" : tensor<256x1xf16>
module {
  func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x16xf32> {
    %t = bloom.weight "word_embeddings.weight" : tensor<16x256xf32>
    %e = bloom.embedding %ids, %t : (tensor<?xi32>, tensor<16x256xf32>) -> tensor<?x256xf32>
    %qkv = bloom.weight "h.0.self_attention.query_key_value.weight" : tensor<768x256xf32>
    %c = bloom.alibi_attention %e, %qkv, %pos, %slots {layer = 0 : i64, num_heads = 2 : i64, head_dim = 128 : i64, alibi_slopes = array<f32: 0.0625, 0.00390625>} : (tensor<?x256xf32>, tensor<768x256xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x256xf32>
    %dw = bloom.weight "h.0.self_attention.dense.weight" : tensor<256x256xf32>
    %d = bloom.linear %c, %dw : (tensor<?x256xf32>, tensor<256x256xf32>) -> tensor<?x256xf32>
    %uw = bloom.weight "h.0.mlp.dense_h_to_4h.weight" : tensor<1024x256xf32>
    %u = bloom.linear %d, %uw epilogue gelu : (tensor<?x256xf32>, tensor<1024x256xf32>) -> tensor<?x1024xf32>
    %ow = bloom.weight "h.0.mlp.dense_4h_to_h.weight" : tensor<256x1024xf32>
    %o = bloom.linear %u, %ow : (tensor<?x1024xf32>, tensor<256x1024xf32>) -> tensor<?x256xf32>
    %p = bloom.gather_rows %o, %rows : (tensor<?x256xf32>, tensor<?xi32>) -> tensor<?x256xf32>
    %l = bloom.lm_head %p, %t : (tensor<?x256xf32>, tensor<16x256xf32>) -> tensor<?x16xf32>
    return %l : tensor<?x16xf32>
  }
}
