// RUN: bloom-opt --split-input-file %s | FileCheck %s
// RUN: bloom-opt --split-input-file %s | bloom-opt --split-input-file | FileCheck %s

// Tests that a weight round-trips with and without its checkpoint source.
// CHECK-LABEL: func.func @weights
func.func @weights() -> (tensor<64xf32>, tensor<256x64xf32>) {
  // CHECK: bloom.weight "ln_f.weight" from "model.safetensors" ["transformer.ln_f.weight"] bf16 : tensor<64xf32>
  %0 = bloom.weight "ln_f.weight" from "model.safetensors" ["transformer.ln_f.weight"] bf16 : tensor<64xf32>
  // CHECK: bloom.weight "word_embeddings.weight" : tensor<256x64xf32>
  %1 = bloom.weight "word_embeddings.weight" : tensor<256x64xf32>
  return %0, %1 : tensor<64xf32>, tensor<256x64xf32>
}

// -----

// Tests that every compute op round-trips with a dynamic token dimension.
// CHECK-LABEL: func.func @compute
func.func @compute(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>,
                   %rows: tensor<?xi32>, %table: tensor<256x64xf32>,
                   %g: tensor<64xf32>, %b: tensor<64xf32>,
                   %wqkv: tensor<192x64xf32>, %bqkv: tensor<192xf32>) -> tensor<?x256xf32> {
  // CHECK: %[[E:.+]] = bloom.embedding %{{.+}}, %{{.+}} : (tensor<?xi32>, tensor<256x64xf32>) -> tensor<?x64xf32>
  %e = bloom.embedding %ids, %table : (tensor<?xi32>, tensor<256x64xf32>) -> tensor<?x64xf32>
  // CHECK: %[[N:.+]] = bloom.layer_norm %[[E]], %{{.+}}, %{{.+}} {epsilon = 9.99999974E-6 : f32}
  %n = bloom.layer_norm %e, %g, %b {epsilon = 1.0e-5 : f32} : (tensor<?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  // CHECK: %[[CTX:.+]] = bloom.alibi_attention %[[N]], %{{.+}} bias %{{.+}}, %{{.+}}, %{{.+}} {alibi_slopes = array<f32: 2.500000e-01, 6.250000e-02, 1.562500e-02, 3.906250e-03>, head_dim = 16 : i64, layer = 0 : i64, num_heads = 4 : i64}
  %ctx = bloom.alibi_attention %n, %wqkv bias %bqkv, %pos, %slots {layer = 0 : i64, num_heads = 4 : i64, head_dim = 16 : i64, alibi_slopes = array<f32: 0.25, 0.0625, 0.015625, 0.00390625>} : (tensor<?x64xf32>, tensor<192x64xf32>, tensor<192xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x64xf32>
  // CHECK: %[[G:.+]] = bloom.gelu %[[CTX]] : tensor<?x64xf32>
  %gelu = bloom.gelu %ctx : tensor<?x64xf32>
  // CHECK: %[[S:.+]] = bloom.add %[[G]], %[[E]] : tensor<?x64xf32>
  %sum = bloom.add %gelu, %e : tensor<?x64xf32>
  // CHECK: %[[R:.+]] = bloom.gather_rows %[[S]], %{{.+}} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  %r = bloom.gather_rows %sum, %rows : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  // CHECK: bloom.lm_head %[[R]], %{{.+}} : (tensor<?x64xf32>, tensor<256x64xf32>) -> tensor<?x256xf32>
  %l = bloom.lm_head %r, %table : (tensor<?x64xf32>, tensor<256x64xf32>) -> tensor<?x256xf32>
  return %l : tensor<?x256xf32>
}

// -----

// Tests that a linear layer without a bias round-trips.
// CHECK-LABEL: func.func @linear_no_bias
func.func @linear_no_bias(%x: tensor<?x64xf32>, %w: tensor<32x64xf32>) -> tensor<?x32xf32> {
  // CHECK: bloom.linear %{{.+}}, %{{.+}} : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
  %y = bloom.linear %x, %w : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}


// -----

// Tests that the unfused attention ops, the fused forms (add_layer_norm,
// linear with a gelu epilogue), casts and precision attributes round-trip.
// CHECK-LABEL: func.func @unfused_attention
func.func @unfused_attention(%qkv: tensor<?x24xf32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>) -> tensor<?x8xf32> {
  // CHECK: %[[Q:[^,]+]], %[[K:[^,]+]], %[[V:[^ ]+]] = bloom.split_heads %{{.+}} {head_dim = 4 : i64, num_heads = 2 : i64} : tensor<?x24xf32> -> tensor<?x2x4xf32>, tensor<?x2x4xf32>, tensor<?x2x4xf32>
  %q, %k, %v = bloom.split_heads %qkv {num_heads = 2 : i64, head_dim = 4 : i64} : tensor<?x24xf32> -> tensor<?x2x4xf32>, tensor<?x2x4xf32>, tensor<?x2x4xf32>
  // CHECK: %[[C:.+]] = bloom.kv_cache_append %[[K]], %[[V]], %{{.+}}, %{{.+}} {layer = 0 : i64} : (tensor<?x2x4xf32>, tensor<?x2x4xf32>, tensor<?xi32>, tensor<?xi32>) -> !bloom.kv_cache<heads = 2, head_dim = 4, f32>
  %c = bloom.kv_cache_append %k, %v, %pos, %slots {layer = 0 : i64} : (tensor<?x2x4xf32>, tensor<?x2x4xf32>, tensor<?xi32>, tensor<?xi32>) -> !bloom.kv_cache<heads = 2, head_dim = 4, f32>
  // CHECK: bloom.attention_scores %[[Q]], %[[C]], %{{.+}} {scale = 5.000000e-01 : f32}
  %s = bloom.attention_scores %q, %c, %slots {scale = 0.5 : f32} : (tensor<?x2x4xf32>, !bloom.kv_cache<heads = 2, head_dim = 4, f32>, tensor<?xi32>) -> tensor<?x2x?xf32>
  // CHECK: bloom.alibi_bias
  %b = bloom.alibi_bias %s {alibi_slopes = array<f32: 0.25, 0.0625>} : tensor<?x2x?xf32> -> tensor<?x2x?xf32>
  // CHECK: bloom.causal_mask
  %m = bloom.causal_mask %b, %pos : (tensor<?x2x?xf32>, tensor<?xi32>) -> tensor<?x2x?xf32>
  // CHECK: bloom.softmax {{.*}} {precision = #bloom.precision<compute = f32, accumulate = f32>}
  %p = bloom.softmax %m {precision = #bloom.precision<compute = f32, accumulate = f32>} : tensor<?x2x?xf32> -> tensor<?x2x?xf32>
  // CHECK: bloom.attention_context
  %h = bloom.attention_context %p, %c, %slots : (tensor<?x2x?xf32>, !bloom.kv_cache<heads = 2, head_dim = 4, f32>, tensor<?xi32>) -> tensor<?x2x4xf32>
  // CHECK: bloom.merge_heads {{.*}} : tensor<?x2x4xf32> -> tensor<?x8xf32>
  %r = bloom.merge_heads %h : tensor<?x2x4xf32> -> tensor<?x8xf32>
  return %r : tensor<?x8xf32>
}

// CHECK-LABEL: func.func @fused_forms
func.func @fused_forms(%a: tensor<?x8xf32>, %g: tensor<8xbf16>, %w: tensor<16x8xbf16>) -> (tensor<?x8xf32>, tensor<?x16xbf16>) {
  // CHECK: %{{.+}}, %{{.+}} = bloom.add_layer_norm {{.*}} -> (tensor<?x8xf32>, tensor<?x8xbf16>)
  %sum, %normed = bloom.add_layer_norm %a, %a, %g, %g {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<?x8xf32>, tensor<8xbf16>, tensor<8xbf16>) -> (tensor<?x8xf32>, tensor<?x8xbf16>)
  // CHECK: bloom.linear %{{.+}}, %{{.+}} epilogue gelu {precision = #bloom.precision<compute = bf16, accumulate = f32>}
  %u = bloom.linear %normed, %w epilogue gelu {precision = #bloom.precision<compute = bf16, accumulate = f32>} : (tensor<?x8xbf16>, tensor<16x8xbf16>) -> tensor<?x16xbf16>
  // CHECK: bloom.cast %{{.+}} : tensor<?x16xbf16> to tensor<?x16xf32>
  %c = bloom.cast %u : tensor<?x16xbf16> to tensor<?x16xf32>
  return %sum, %u : tensor<?x8xf32>, tensor<?x16xbf16>
}

// -----

// Tests that tensor-parallel forms round-trip: a weight slice (with and
// without a source), a vocab-parallel embedding and both collectives.
// CHECK-LABEL: func.func @tensor_parallel
func.func @tensor_parallel(%ids: tensor<?xi32>, %x: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x32xf32>) {
  // CHECK: bloom.weight "word_embeddings.weight" from "model.safetensors" ["transformer.word_embeddings.weight"] bf16 slice(dim = 0, begin = 16, end = 32) : tensor<16x8xf32>
  %t = bloom.weight "word_embeddings.weight" from "model.safetensors" ["transformer.word_embeddings.weight"] bf16 slice(dim = 0, begin = 16, end = 32) : tensor<16x8xf32>
  // CHECK: bloom.weight "dense.weight" slice(dim = 1, begin = 4, end = 8) : tensor<8x4xf32>
  %d = bloom.weight "dense.weight" slice(dim = 1, begin = 4, end = 8) : tensor<8x4xf32>
  // CHECK: %[[E:.+]] = bloom.embedding %{{.+}}, %{{.+}} {vocab_begin = 16 : i64, vocab_size = 32 : i64} : (tensor<?xi32>, tensor<16x8xf32>) -> tensor<?x8xf32>
  %e = bloom.embedding %ids, %t {vocab_begin = 16 : i64, vocab_size = 32 : i64} : (tensor<?xi32>, tensor<16x8xf32>) -> tensor<?x8xf32>
  // CHECK: bloom.all_reduce %[[E]] : tensor<?x8xf32>
  %s = bloom.all_reduce %e : tensor<?x8xf32>
  %l = bloom.lm_head %x, %t : (tensor<?x8xf32>, tensor<16x8xf32>) -> tensor<?x16xf32>
  // CHECK: bloom.all_gather %{{.+}} {num_ranks = 2 : i64} : tensor<?x16xf32> -> tensor<?x32xf32>
  %g = bloom.all_gather %l {num_ranks = 2 : i64} : tensor<?x16xf32> -> tensor<?x32xf32>
  return %s, %g : tensor<?x8xf32>, tensor<?x32xf32>
}
