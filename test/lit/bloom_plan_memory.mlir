// RUN: bloom-opt --bloom-plan-memory="max-batch-tokens=4 max-logit-rows=2 max-seq-len=40 max-sequences=3" --split-input-file %s | FileCheck %s
// RUN: bloom-opt --bloom-plan-memory="max-batch-tokens=4 max-logit-rows=2 reuse=false" --split-input-file %s | FileCheck %s --check-prefix=BUMP

// Tests liveness-based offsets on a small f32 graph, T = 4, R = 2, derived
// by hand. Ops are numbered 0..6; live ranges (write..last read):
//   e [4x8] 128 B 0..4   n [4x8] 128 B 1..2   u [4x32] 512 B 2..3
//   d [4x8] 128 B 3..4   s [4x8] 128 B 4..5   p [2x8] 64 B 5..6
//   logits [2x16] 128 B and the four inputs (64 B each once aligned) 0..6.
// Greedy by size, then by first write, each at the lowest free offset among
// the tensors live at the same time:
//   u 0; e 512; logits 640; n 768; d 768 (n is dead by op 3);
//   s 0 (u is dead by op 4); token_ids 896, positions 960,
//   sequence_slots 1024, logit_rows 1088; p 128 (between s and logits).
// Arena 1152 bytes; 1472 without reuse (the sum of all rooms).
// Weights 512 + 32 + 1024 + 1024 = 2592 bytes; no attention, no KV cache.
// CHECK: bloom.memory = {activations_bytes = 1152 : i64, arena_bytes_without_reuse = 1472 : i64, kv_block_size = 16 : i64, kv_cache_bytes = 0 : i64, kv_dtype = f32, kv_head_dim = 1 : i64, kv_num_blocks = 9 : i64, kv_num_heads = 1 : i64, kv_num_layers = 0 : i64, max_batch_tokens = 4 : i64, max_logit_rows = 2 : i64, max_seq_len = 40 : i64, max_sequences = 3 : i64, total_bytes = 3744 : i64, weights_bytes = 2592 : i64, workspace_bytes = 0 : i64}
// CHECK: func.func @step({{.*}} attributes {bloom.input_offsets = array<i64: 896, 960, 1024, 1088>}
// CHECK: bloom.embedding {{.*}}bloom.arena_offsets = array<i64: 512>
// CHECK: bloom.layer_norm {{.*}}bloom.arena_offsets = array<i64: 768>
// CHECK: bloom.linear {{.*}} epilogue gelu {bloom.arena_offsets = array<i64: 0>
// CHECK: bloom.linear {{.*}}bloom.arena_offsets = array<i64: 768>
// CHECK: bloom.add {{.*}}bloom.arena_offsets = array<i64: 0>
// CHECK: bloom.gather_rows {{.*}}bloom.arena_offsets = array<i64: 128>
// CHECK: bloom.lm_head {{.*}}bloom.arena_offsets = array<i64: 640>

// Without reuse every tensor has its own bytes, in order: the inputs, then
// e 256, n 384, u 512, d 1024, s 1152, p 1280, logits 1344.
// BUMP: activations_bytes = 1472 : i64, arena_bytes_without_reuse = 1472 : i64
// BUMP: bloom.input_offsets = array<i64: 0, 64, 128, 192>
// BUMP: bloom.lm_head {{.*}}bloom.arena_offsets = array<i64: 1344>
module {
  func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x16xf32> {
    %t = bloom.weight "word_embeddings.weight" : tensor<16x8xf32>
    %e = bloom.embedding %ids, %t : (tensor<?xi32>, tensor<16x8xf32>) -> tensor<?x8xf32>
    %g = bloom.weight "g" : tensor<8xf32>
    %n = bloom.layer_norm %e, %g, %g {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
    %w = bloom.weight "up" : tensor<32x8xf32>
    %u = bloom.linear %n, %w epilogue gelu : (tensor<?x8xf32>, tensor<32x8xf32>) -> tensor<?x32xf32>
    %w2 = bloom.weight "down" : tensor<8x32xf32>
    %d = bloom.linear %u, %w2 : (tensor<?x32xf32>, tensor<8x32xf32>) -> tensor<?x8xf32>
    %s = bloom.add %d, %e : tensor<?x8xf32>
    %p = bloom.gather_rows %s, %rows : (tensor<?x8xf32>, tensor<?xi32>) -> tensor<?x8xf32>
    %l = bloom.lm_head %p, %t : (tensor<?x8xf32>, tensor<16x8xf32>) -> tensor<?x16xf32>
    return %l : tensor<?x16xf32>
  }
}

// -----

// Tests the KV cache's size and type from the attention ops: 2 layers of
// 2 heads x 4, bf16, 3 sequences x ceil(40 / 16) = 9 blocks of 16:
// 2 (K, V) * 2 layers * 9 * 2 * 16 * 4 * 2 bytes = 9216. The fused
// attention's internal qkv buffer [4x24] bf16 = 192 B lives during its op
// only, so both layers' qkv share bytes.
// CHECK: kv_cache_bytes = 9216 : i64, kv_dtype = bf16, kv_head_dim = 4 : i64, kv_num_blocks = 9 : i64, kv_num_heads = 2 : i64, kv_num_layers = 2 : i64
// CHECK: bloom.alibi_attention {{.*}}bloom.arena_offsets = array<i64: [[CTX0:[0-9]+]], [[QKV:[0-9]+]]>
// CHECK: bloom.alibi_attention {{.*}}bloom.arena_offsets = array<i64: {{[0-9]+}}, [[QKV]]>
module {
  func.func @step(%x: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x16xf32> {
    %t = bloom.weight "t" : tensor<16x8xbf16>
    %e = bloom.embedding %x, %t : (tensor<?xi32>, tensor<16x8xbf16>) -> tensor<?x8xbf16>
    %w = bloom.weight "qkv" : tensor<24x8xbf16>
    %a = bloom.alibi_attention %e, %w, %pos, %slots {layer = 0 : i64, num_heads = 2 : i64, head_dim = 4 : i64, alibi_slopes = array<f32: 0.25, 0.0625>, qkv_storage = bf16} : (tensor<?x8xbf16>, tensor<24x8xbf16>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x8xbf16>
    %b = bloom.alibi_attention %a, %w, %pos, %slots {layer = 1 : i64, num_heads = 2 : i64, head_dim = 4 : i64, alibi_slopes = array<f32: 0.25, 0.0625>, qkv_storage = bf16} : (tensor<?x8xbf16>, tensor<24x8xbf16>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x8xbf16>
    %p = bloom.gather_rows %b, %rows : (tensor<?x8xbf16>, tensor<?xi32>) -> tensor<?x8xbf16>
    %l = bloom.lm_head %p, %t : (tensor<?x8xbf16>, tensor<16x8xbf16>) -> tensor<?x16xf32>
    return %l : tensor<?x16xf32>
  }
}
