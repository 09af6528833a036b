// RUN: bloom-opt --bloom-quantize-weights=weights=int8 %s | FileCheck %s --check-prefix=INT8
// RUN: bloom-opt --bloom-quantize-weights=weights=int8 --bloom-assign-precision=policy=bf16 --bloom-plan-memory="max-batch-tokens=4 max-logit-rows=2" %s | FileCheck %s --check-prefix=INT8-BYTES
// RUN: bloom-opt --bloom-quantize-weights="weights=int4 group-size=4" --bloom-assign-precision=policy=bf16 %s | FileCheck %s --check-prefix=INT4

// Tests int8 per output channel on a small graph (hidden 8, MLP 32, vocab
// 16, tied LM head, which stays bf16 without quantize-lm-head): each
// bloom.linear weight becomes i8 values of its shape and f16 scales of one
// column per output row, read through a bloom.dequantize with group_size 0.
// INT8: module attributes {bloom.quantization = {group_size = 0 : i64, lm_head = false, weights = "int8"}}
// INT8: %[[T:.+]] = bloom.weight "word_embeddings.weight" : tensor<16x8xf32>
// INT8: %[[UQ:.+]] = bloom.weight "h.0.mlp.dense_h_to_4h.weight" : tensor<32x8xi8>
// INT8-NEXT: %[[US:.+]] = bloom.weight "h.0.mlp.dense_h_to_4h.weight.scales" : tensor<32x1xf16>
// INT8-NEXT: %[[UW:.+]] = bloom.dequantize %[[UQ]], %[[US]] {group_size = 0 : i64} : (tensor<32x8xi8>, tensor<32x1xf16>) -> tensor<32x8xf32>
// INT8-NEXT: bloom.linear %{{.+}}, %[[UW]] epilogue gelu
// INT8: %[[DQ:.+]] = bloom.weight "h.0.mlp.dense_4h_to_h.weight" : tensor<8x32xi8>
// INT8-NEXT: %[[DS:.+]] = bloom.weight "h.0.mlp.dense_4h_to_h.weight.scales" : tensor<8x1xf16>
// INT8-NEXT: %[[DW:.+]] = bloom.dequantize %[[DQ]], %[[DS]] {group_size = 0 : i64} : (tensor<8x32xi8>, tensor<8x1xf16>) -> tensor<8x32xf32>
// INT8-NEXT: bloom.linear %{{.+}}, %[[DW]] :
// INT8: bloom.lm_head %{{.+}}, %[[T]] :
// INT8-NOT: zero_points
//
// Bytes (policy bf16; the values and scales keep their storage, the rest is
// bf16): table 16x8x2 = 256 and gamma 8x2 = 16: bf16 272; values 32x8 +
// 8x32 = 512 (int8, a byte each); scales (32 + 8) x 2 = 80. Weights 864.
// The dequantized weights take no arena bytes: no arena offsets on them.
// INT8-BYTES: bloom.bytes_by_format = {bf16 = 272 : i64, int8 = 512 : i64, scales = 80 : i64}
// INT8-BYTES-SAME: bloom.memory = {{.*}}weights_bytes = 864 : i64
// INT8-BYTES: bloom.weight "h.0.mlp.dense_h_to_4h.weight" : tensor<32x8xi8>
// INT8-BYTES-NEXT: bloom.weight "h.0.mlp.dense_h_to_4h.weight.scales" : tensor<32x1xf16>
// INT8-BYTES-NEXT: bloom.dequantize {{.*}} {group_size = 0 : i64, precision = #bloom.precision<compute = bf16, accumulate = f32>} : (tensor<32x8xi8>, tensor<32x1xf16>) -> tensor<32x8xbf16>

// Tests int4 per group on the same graph with group-size 4: the up weight
// [32, 8] has 8 / 4 = 2 groups a row, so scales and zero points [32, 2];
// the down weight [8, 32] has 32 / 4 = 8, so [8, 8]. Values i4, scales f16,
// zero points i8 (asymmetric), whatever the policy.
// INT4: bloom.quantization = {group_size = 4 : i64, lm_head = false, weights = "int4"}
// INT4: %[[UQ:.+]] = bloom.weight "h.0.mlp.dense_h_to_4h.weight" : tensor<32x8xi4>
// INT4-NEXT: %[[US:.+]] = bloom.weight "h.0.mlp.dense_h_to_4h.weight.scales" : tensor<32x2xf16>
// INT4-NEXT: %[[UZ:.+]] = bloom.weight "h.0.mlp.dense_h_to_4h.weight.zero_points" : tensor<32x2xi8>
// INT4-NEXT: bloom.dequantize %[[UQ]], %[[US]] zero_points %[[UZ]] {group_size = 4 : i64, {{.*}}} : (tensor<32x8xi4>, tensor<32x2xf16>, tensor<32x2xi8>) -> tensor<32x8xbf16>
// INT4: bloom.weight "h.0.mlp.dense_4h_to_h.weight" : tensor<8x32xi4>
// INT4-NEXT: bloom.weight "h.0.mlp.dense_4h_to_h.weight.scales" : tensor<8x8xf16>
// INT4-NEXT: bloom.weight "h.0.mlp.dense_4h_to_h.weight.zero_points" : tensor<8x8xi8>
module {
  func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x16xf32> {
    %t = bloom.weight "word_embeddings.weight" : tensor<16x8xf32>
    %e = bloom.embedding %ids, %t : (tensor<?xi32>, tensor<16x8xf32>) -> tensor<?x8xf32>
    %g = bloom.weight "h.0.post_attention_layernorm.weight" : tensor<8xf32>
    %n = bloom.layer_norm %e, %g, %g {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
    %w = bloom.weight "h.0.mlp.dense_h_to_4h.weight" : tensor<32x8xf32>
    %u = bloom.linear %n, %w epilogue gelu : (tensor<?x8xf32>, tensor<32x8xf32>) -> tensor<?x32xf32>
    %w2 = bloom.weight "h.0.mlp.dense_4h_to_h.weight" : tensor<8x32xf32>
    %d = bloom.linear %u, %w2 : (tensor<?x32xf32>, tensor<8x32xf32>) -> tensor<?x8xf32>
    %s = bloom.add %d, %e : tensor<?x8xf32>
    %p = bloom.gather_rows %s, %rows : (tensor<?x8xf32>, tensor<?xi32>) -> tensor<?x8xf32>
    %l = bloom.lm_head %p, %t : (tensor<?x8xf32>, tensor<16x8xf32>) -> tensor<?x16xf32>
    return %l : tensor<?x16xf32>
  }
}
