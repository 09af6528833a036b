// RUN: bloom-opt --bloom-assign-precision=policy=bf16 --split-input-file %s | FileCheck %s --check-prefix=BF16
// RUN: bloom-opt --bloom-assign-precision=policy=fp16 --split-input-file %s | FileCheck %s --check-prefix=FP16
// RUN: bloom-opt --bloom-assign-precision --split-input-file %s | FileCheck %s --check-prefix=FP32

// Tests one fused block under each policy. bf16: weights and activations
// bf16, layer norms and attention compute in f32, logits f32, the KV cache
// (qkv) bf16, no casts. fp16: the residual stream (the add_layer_norm sum and
// both addends: the attention dense output and the residual) is f32 and
// computes in f32, the rest f16, no casts either. fp32: everything f32.
// BF16-LABEL: func.func @step
// BF16-SAME: -> tensor<?x16xf32>
// BF16: bloom.weight "word_embeddings.weight" : tensor<16x8xbf16>
// BF16: bloom.embedding {{.*}} {precision = #bloom.precision<compute = bf16, accumulate = f32>} : (tensor<?xi32>, tensor<16x8xbf16>) -> tensor<?x8xbf16>
// BF16: bloom.layer_norm {{.*}} precision = #bloom.precision<compute = f32, accumulate = f32>} {{.*}} -> tensor<?x8xbf16>
// BF16: bloom.alibi_attention {{.*}} precision = #bloom.precision<compute = f32, accumulate = f32>, qkv_precision = #bloom.precision<compute = bf16, accumulate = f32>, qkv_storage = bf16} {{.*}} -> tensor<?x8xbf16>
// BF16: bloom.linear {{.*}} {precision = #bloom.precision<compute = bf16, accumulate = f32>} {{.*}} -> tensor<?x8xbf16>
// BF16: bloom.add_layer_norm {{.*}} precision = #bloom.precision<compute = f32, accumulate = f32>} : (tensor<?x8xbf16>, tensor<?x8xbf16>, tensor<8xbf16>, tensor<8xbf16>) -> (tensor<?x8xbf16>, tensor<?x8xbf16>)
// BF16: bloom.gather_rows {{.*}} -> tensor<?x8xbf16>
// BF16: bloom.lm_head {{.*}} {precision = #bloom.precision<compute = bf16, accumulate = f32>} : (tensor<?x8xbf16>, tensor<16x8xbf16>) -> tensor<?x16xf32>
// BF16-NOT: bloom.cast
// BF16: module attributes {bloom.precision_policy = "bf16"}

// FP16-LABEL: func.func @step
// FP16: bloom.embedding {{.*}} -> tensor<?x8xf16>
// The embeddings norm is the first residual: f32.
// FP16: %[[H0:.+]] = bloom.layer_norm {{.*}} -> tensor<?x8xf32>
// FP16: bloom.layer_norm %[[H0]], {{.*}} -> tensor<?x8xf16>
// FP16: bloom.alibi_attention {{.*}} qkv_storage = f16} {{.*}} -> tensor<?x8xf16>
// The dense output is added into the stream: stored f32 (it accumulates in f32 anyway).
// FP16: %[[DENSE:.+]] = bloom.linear {{.*}} {precision = #bloom.precision<compute = f16, accumulate = f32>} : (tensor<?x8xf16>, tensor<8x8xf16>, tensor<8xf16>) -> tensor<?x8xf32>
// FP16: bloom.add_layer_norm %[[DENSE]], %[[H0]], {{.*}} -> (tensor<?x8xf32>, tensor<?x8xf16>)
// FP16: bloom.lm_head {{.*}} -> tensor<?x16xf32>
// FP16-NOT: bloom.cast

// FP32-LABEL: func.func @step
// FP32-NOT: bf16
// FP32-NOT: f16
// FP32: bloom.alibi_attention {{.*}} qkv_storage = f32}
// FP32-NOT: bloom.cast
// FP32: module attributes {bloom.precision_policy = "fp32"}
module {
  func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x16xf32> {
    %table = bloom.weight "word_embeddings.weight" : tensor<16x8xf32>
    %e = bloom.embedding %ids, %table : (tensor<?xi32>, tensor<16x8xf32>) -> tensor<?x8xf32> loc("embeddings")
    %g = bloom.weight "g" : tensor<8xf32>
    %h0 = bloom.layer_norm %e, %g, %g {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
    %n = bloom.layer_norm %h0, %g, %g {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8xf32> loc("h.0.attn_norm")
    %w = bloom.weight "qkv.weight" : tensor<24x8xf32>
    %ctx = bloom.alibi_attention %n, %w, %pos, %slots {layer = 0 : i64, num_heads = 2 : i64, head_dim = 4 : i64, alibi_slopes = array<f32: 0.25, 0.0625>} : (tensor<?x8xf32>, tensor<24x8xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x8xf32>
    %dw = bloom.weight "dense.weight" : tensor<8x8xf32>
    %db = bloom.weight "dense.bias" : tensor<8xf32>
    %d = bloom.linear %ctx, %dw, %db : (tensor<?x8xf32>, tensor<8x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
    %sum, %normed = bloom.add_layer_norm %d, %h0, %g, %g {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>)
    %pick = bloom.gather_rows %normed, %rows : (tensor<?x8xf32>, tensor<?xi32>) -> tensor<?x8xf32>
    %logits = bloom.lm_head %pick, %table : (tensor<?x8xf32>, tensor<16x8xf32>) -> tensor<?x16xf32>
    return %logits : tensor<?x16xf32>
  }
}

// -----

// Tests that a cast is inserted only where an op needs an operand in
// another storage type: under fp16 the residual sum is f32 and a gelu of it
// (f16, same type in and out) reads it through one f16 cast, which a second
// gelu reuses; under bf16 the storage types agree and nothing is inserted.
// BF16-LABEL: func.func @cast_where_types_change
// BF16-NOT: bloom.cast
// FP16-LABEL: func.func @cast_where_types_change
// FP16: %[[S:.+]] = bloom.add {{.*}} {precision = #bloom.precision<compute = f32, accumulate = f32>} : tensor<?x8xf32>
// FP16-NEXT: %[[C:.+]] = bloom.cast %[[S]] {precision = #bloom.precision<compute = f16, accumulate = f32>} : tensor<?x8xf32> to tensor<?x8xf16>
// FP16: bloom.gelu %[[C]] {{.*}} : tensor<?x8xf16>
// FP16: bloom.gelu %[[C]] {{.*}} : tensor<?x8xf16>
// FP16-NOT: bloom.cast
func.func @cast_where_types_change(%a: tensor<?x8xf32>, %w: tensor<8x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>) {
  %u = bloom.linear %a, %w : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  %s = bloom.add %u, %u : tensor<?x8xf32> loc("sum")
  %g1 = bloom.gelu %s : tensor<?x8xf32>
  %g2 = bloom.gelu %s : tensor<?x8xf32>
  return %s, %g1, %g2 : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>
}
