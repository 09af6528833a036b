// RUN: bloom-opt --bloom-fuse --split-input-file --mlir-print-debuginfo --mlir-print-local-scope %s | FileCheck %s

// Tests that a linear whose only user is a gelu takes the gelu as its
// epilogue, keeping both names (the gelu's first: it names the result).
// CHECK-LABEL: func.func @linear_gelu
// CHECK: %[[Y:.+]] = bloom.linear %{{.+}}, %{{.+}}, %{{.+}} epilogue gelu : (tensor<?x8xf32>, tensor<32x8xf32>, tensor<32xf32>) -> tensor<?x32xf32> loc(fused["mlp_gelu", "mlp_h_to_4h"])
// CHECK-NOT: bloom.gelu
// CHECK: return %[[Y]]
func.func @linear_gelu(%x: tensor<?x8xf32>, %w: tensor<32x8xf32>, %b: tensor<32xf32>) -> tensor<?x32xf32> {
  %u = bloom.linear %x, %w, %b : (tensor<?x8xf32>, tensor<32x8xf32>, tensor<32xf32>) -> tensor<?x32xf32> loc("mlp_h_to_4h")
  %g = bloom.gelu %u : tensor<?x32xf32> loc("mlp_gelu")
  return %g : tensor<?x32xf32>
}

// -----

// Tests that a second user of the pre-activation blocks the epilogue: the
// linear's result must be stored anyway.
// CHECK-LABEL: func.func @linear_gelu_shared
// CHECK: %[[U:.+]] = bloom.linear %{{.+}}, %{{.+}} : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
// CHECK-NOT: epilogue
// CHECK: %[[G:.+]] = bloom.gelu %[[U]]
// CHECK: bloom.add %[[G]], %[[U]]
func.func @linear_gelu_shared(%x: tensor<?x8xf32>, %w: tensor<8x8xf32>) -> tensor<?x8xf32> {
  %u = bloom.linear %x, %w : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  %g = bloom.gelu %u : tensor<?x8xf32>
  %s = bloom.add %g, %u : tensor<?x8xf32>
  return %s : tensor<?x8xf32>
}

// -----

// Tests the pre-LN residual path: the sum feeds the layer norm and the next
// residual add, so add_layer_norm's sum replaces the add everywhere and its
// normed result replaces the layer norm.
// CHECK-LABEL: func.func @add_layer_norm_pre_ln
// CHECK: %[[SUM:[^,]+]], %[[NORMED:[^ ]+]] = bloom.add_layer_norm %[[A:.+]], %[[R:.+]], %{{.+}}, %{{.+}} {epsilon = 9.99999974E-6 : f32}
// CHECK-NOT: bloom.layer_norm
// CHECK: %[[UP:.+]] = bloom.linear %[[NORMED]]
// CHECK: bloom.add %[[UP]], %[[SUM]]
func.func @add_layer_norm_pre_ln(%a: tensor<?x8xf32>, %r: tensor<?x8xf32>, %g: tensor<8xf32>, %w: tensor<8x8xf32>) -> tensor<?x8xf32> {
  %s = bloom.add %a, %r : tensor<?x8xf32> loc("attn_residual")
  %n = bloom.layer_norm %s, %g, %g {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8xf32> loc("mlp_norm")
  %u = bloom.linear %n, %w : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  %o = bloom.add %u, %s : tensor<?x8xf32>
  return %o : tensor<?x8xf32>
}

// -----

// Tests apply_residual_connection_post_layernorm: the residual is the
// normed value, so the next add must read add_layer_norm's normed result
// (and the sum is otherwise dead).
// CHECK-LABEL: func.func @add_layer_norm_post_ln
// CHECK: %[[SUM:[^,]+]], %[[NORMED:[^ ]+]] = bloom.add_layer_norm
// CHECK: %[[UP:.+]] = bloom.linear %[[NORMED]]
// CHECK: %[[OUT:.+]] = bloom.add %[[UP]], %[[NORMED]]
// CHECK: return %[[OUT]]
func.func @add_layer_norm_post_ln(%a: tensor<?x8xf32>, %r: tensor<?x8xf32>, %g: tensor<8xf32>, %w: tensor<8x8xf32>) -> tensor<?x8xf32> {
  %s = bloom.add %a, %r : tensor<?x8xf32>
  %n = bloom.layer_norm %s, %g, %g {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %u = bloom.linear %n, %w : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  %o = bloom.add %u, %n : tensor<?x8xf32>
  return %o : tensor<?x8xf32>
}

// -----

// Tests that a user of the sum between the add and the layer norm blocks
// the fusion (the fused op, at the norm's place, would not dominate it).
// CHECK-LABEL: func.func @add_layer_norm_early_use
// CHECK: bloom.add
// CHECK: bloom.gelu
// CHECK: bloom.layer_norm
// CHECK-NOT: bloom.add_layer_norm
func.func @add_layer_norm_early_use(%a: tensor<?x8xf32>, %g: tensor<8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %s = bloom.add %a, %a : tensor<?x8xf32>
  %e = bloom.gelu %s : tensor<?x8xf32>
  %n = bloom.layer_norm %s, %g, %g {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %e, %n : tensor<?x8xf32>, tensor<?x8xf32>
}

// -----

// Tests that the attention chain (2 heads of 4: scale 1/sqrt(4) = 0.5)
// becomes one alibi_attention with the QKV projection folded in, named
// after the context and then the qkv buffer.
// CHECK-LABEL: func.func @attention
// CHECK: %[[CTX:.+]] = bloom.alibi_attention %arg0, %arg1 bias %arg2, %arg3, %arg4 {alibi_slopes = array<f32: 2.500000e-01, 6.250000e-02>, head_dim = 4 : i64, layer = 3 : i64, num_heads = 2 : i64} : {{.*}} -> tensor<?x8xf32> loc(fused["h.3.attn_context", "h.3.qkv"])
// CHECK-NOT: bloom.split_heads
// CHECK-NOT: bloom.kv_cache_append
// CHECK-NOT: bloom.softmax
// CHECK: return %[[CTX]]
func.func @attention(%x: tensor<?x8xf32>, %w: tensor<24x8xf32>, %b: tensor<24xf32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>) -> tensor<?x8xf32> {
  %qkv = bloom.linear %x, %w, %b : (tensor<?x8xf32>, tensor<24x8xf32>, tensor<24xf32>) -> tensor<?x24xf32> loc("h.3.qkv")
  %q, %k, %v = bloom.split_heads %qkv {num_heads = 2 : i64, head_dim = 4 : i64} : tensor<?x24xf32> -> tensor<?x2x4xf32>, tensor<?x2x4xf32>, tensor<?x2x4xf32>
  %c = bloom.kv_cache_append %k, %v, %pos, %slots {layer = 3 : i64} : (tensor<?x2x4xf32>, tensor<?x2x4xf32>, tensor<?xi32>, tensor<?xi32>) -> !bloom.kv_cache<heads = 2, head_dim = 4, f32>
  %s = bloom.attention_scores %q, %c, %slots {scale = 0.5 : f32} : (tensor<?x2x4xf32>, !bloom.kv_cache<heads = 2, head_dim = 4, f32>, tensor<?xi32>) -> tensor<?x2x?xf32>
  %a = bloom.alibi_bias %s {alibi_slopes = array<f32: 0.25, 0.0625>} : tensor<?x2x?xf32> -> tensor<?x2x?xf32>
  %m = bloom.causal_mask %a, %pos : (tensor<?x2x?xf32>, tensor<?xi32>) -> tensor<?x2x?xf32>
  %p = bloom.softmax %m : tensor<?x2x?xf32> -> tensor<?x2x?xf32>
  %h = bloom.attention_context %p, %c, %slots : (tensor<?x2x?xf32>, !bloom.kv_cache<heads = 2, head_dim = 4, f32>, tensor<?xi32>) -> tensor<?x2x4xf32>
  %r = bloom.merge_heads %h : tensor<?x2x4xf32> -> tensor<?x8xf32> loc("h.3.attn_context")
  return %r : tensor<?x8xf32>
}

// -----

// Tests that a second user of the softmax result blocks the attention
// fusion: the probabilities are needed as a tensor.
// CHECK-LABEL: func.func @attention_probs_shared
// CHECK: bloom.linear
// CHECK: bloom.split_heads
// CHECK: bloom.softmax
// CHECK: bloom.merge_heads
// CHECK-NOT: bloom.alibi_attention
func.func @attention_probs_shared(%x: tensor<?x8xf32>, %w: tensor<24x8xf32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>) -> (tensor<?x8xf32>, tensor<?x2x?xf32>) {
  %qkv = bloom.linear %x, %w : (tensor<?x8xf32>, tensor<24x8xf32>) -> tensor<?x24xf32>
  %q, %k, %v = bloom.split_heads %qkv {num_heads = 2 : i64, head_dim = 4 : i64} : tensor<?x24xf32> -> tensor<?x2x4xf32>, tensor<?x2x4xf32>, tensor<?x2x4xf32>
  %c = bloom.kv_cache_append %k, %v, %pos, %slots {layer = 0 : i64} : (tensor<?x2x4xf32>, tensor<?x2x4xf32>, tensor<?xi32>, tensor<?xi32>) -> !bloom.kv_cache<heads = 2, head_dim = 4, f32>
  %s = bloom.attention_scores %q, %c, %slots {scale = 0.5 : f32} : (tensor<?x2x4xf32>, !bloom.kv_cache<heads = 2, head_dim = 4, f32>, tensor<?xi32>) -> tensor<?x2x?xf32>
  %a = bloom.alibi_bias %s {alibi_slopes = array<f32: 0.25, 0.0625>} : tensor<?x2x?xf32> -> tensor<?x2x?xf32>
  %m = bloom.causal_mask %a, %pos : (tensor<?x2x?xf32>, tensor<?xi32>) -> tensor<?x2x?xf32>
  %p = bloom.softmax %m : tensor<?x2x?xf32> -> tensor<?x2x?xf32>
  %h = bloom.attention_context %p, %c, %slots : (tensor<?x2x?xf32>, !bloom.kv_cache<heads = 2, head_dim = 4, f32>, tensor<?xi32>) -> tensor<?x2x4xf32>
  %r = bloom.merge_heads %h : tensor<?x2x4xf32> -> tensor<?x8xf32>
  return %r, %p : tensor<?x8xf32>, tensor<?x2x?xf32>
}

// -----

// Tests that a scale other than 1/sqrt(head_dim) (the kernel's) blocks the
// attention fusion.
// CHECK-LABEL: func.func @attention_scale
// CHECK: bloom.attention_scores {{.*}} {scale = 2.500000e-01 : f32}
// CHECK-NOT: bloom.alibi_attention
func.func @attention_scale(%x: tensor<?x8xf32>, %w: tensor<24x8xf32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>) -> tensor<?x8xf32> {
  %qkv = bloom.linear %x, %w : (tensor<?x8xf32>, tensor<24x8xf32>) -> tensor<?x24xf32>
  %q, %k, %v = bloom.split_heads %qkv {num_heads = 2 : i64, head_dim = 4 : i64} : tensor<?x24xf32> -> tensor<?x2x4xf32>, tensor<?x2x4xf32>, tensor<?x2x4xf32>
  %c = bloom.kv_cache_append %k, %v, %pos, %slots {layer = 0 : i64} : (tensor<?x2x4xf32>, tensor<?x2x4xf32>, tensor<?xi32>, tensor<?xi32>) -> !bloom.kv_cache<heads = 2, head_dim = 4, f32>
  %s = bloom.attention_scores %q, %c, %slots {scale = 0.25 : f32} : (tensor<?x2x4xf32>, !bloom.kv_cache<heads = 2, head_dim = 4, f32>, tensor<?xi32>) -> tensor<?x2x?xf32>
  %a = bloom.alibi_bias %s {alibi_slopes = array<f32: 0.25, 0.0625>} : tensor<?x2x?xf32> -> tensor<?x2x?xf32>
  %m = bloom.causal_mask %a, %pos : (tensor<?x2x?xf32>, tensor<?xi32>) -> tensor<?x2x?xf32>
  %p = bloom.softmax %m : tensor<?x2x?xf32> -> tensor<?x2x?xf32>
  %h = bloom.attention_context %p, %c, %slots : (tensor<?x2x?xf32>, !bloom.kv_cache<heads = 2, head_dim = 4, f32>, tensor<?xi32>) -> tensor<?x2x4xf32>
  %r = bloom.merge_heads %h : tensor<?x2x4xf32> -> tensor<?x8xf32>
  return %r : tensor<?x8xf32>
}

// -----

// Tests cast removal: f16 -> f32 -> f16 is exact and cancels; a cast to the
// same type folds; bf16 -> f32 -> f16 becomes one cast (the first step is
// exact); f32 -> bf16 -> f32 rounds, so it stays.
// CHECK-LABEL: func.func @casts
// CHECK: %[[ONE:.+]] = bloom.cast %arg1 : tensor<?x8xbf16> to tensor<?x8xf16>
// CHECK: %[[DOWN:.+]] = bloom.cast %arg2 : tensor<?x8xf32> to tensor<?x8xbf16>
// CHECK: %[[UP:.+]] = bloom.cast %[[DOWN]] : tensor<?x8xbf16> to tensor<?x8xf32>
// CHECK: return %arg0, %arg2, %[[ONE]], %[[UP]]
func.func @casts(%h: tensor<?x8xf16>, %b: tensor<?x8xbf16>, %f: tensor<?x8xf32>) -> (tensor<?x8xf16>, tensor<?x8xf32>, tensor<?x8xf16>, tensor<?x8xf32>) {
  %0 = bloom.cast %h : tensor<?x8xf16> to tensor<?x8xf32>
  %1 = bloom.cast %0 : tensor<?x8xf32> to tensor<?x8xf16>
  %2 = bloom.cast %f : tensor<?x8xf32> to tensor<?x8xf32>
  %3 = bloom.cast %b : tensor<?x8xbf16> to tensor<?x8xf32>
  %4 = bloom.cast %3 : tensor<?x8xf32> to tensor<?x8xf16>
  %5 = bloom.cast %f : tensor<?x8xf32> to tensor<?x8xbf16>
  %6 = bloom.cast %5 : tensor<?x8xbf16> to tensor<?x8xf32>
  return %1, %2, %4, %6 : tensor<?x8xf16>, tensor<?x8xf32>, tensor<?x8xf16>, tensor<?x8xf32>
}
