// RUN: bloom-opt --canonicalize %s | FileCheck %s

// Tests that attention is kept although its result is unused (it writes the
// KV cache) while an unused pure op is removed.
// CHECK-LABEL: func.func @attention_not_dead
func.func @attention_not_dead(%x: tensor<?x2xf32>, %w: tensor<6x2xf32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>) {
  // CHECK: bloom.alibi_attention
  %c = bloom.alibi_attention %x, %w, %pos, %slots {layer = 0 : i64, num_heads = 1 : i64, head_dim = 2 : i64, alibi_slopes = array<f32: 0.5>} : (tensor<?x2xf32>, tensor<6x2xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x2xf32>
  // CHECK-NOT: bloom.gelu
  %g = bloom.gelu %c : tensor<?x2xf32>
  return
}
