// RUN: bloom-opt --bloom-lower-to-plan="max-batch-tokens=4 max-seq-len=40 max-sequences=3" --split-input-file %s | FileCheck %s

// Tests the lowering of a one-layer graph: step inputs with roles, tied
// weights kept as one tensor, the kernel of each op, bump-allocated offsets
// (room for 4 rows, 64-byte aligned) and the KV cache's size.
//
// Offsets by hand, T = 4 rows of f32/i32:
//   token_ids, positions, sequence_slots, logit_rows: 16 B each -> 0, 64, 128, 192
//   embeddings [4x8] 128 B at 256; attn_norm [4x8] at 384;
//   qkv [4x24] 384 B at 512; attn_context [4x8] at 896;
//   logit_hidden [4x8] at 1024; logits [4x16] 256 B at 1152 -> arena 1408.
// KV cache: 3 sequences x ceil(40 / 16) = 3 blocks each = 9 blocks.

// CHECK-LABEL: plan.program "tiny" checkpoint "/ckpt" eos_token_id = 2
// CHECK-SAME: limits(max_batch_tokens = 4, max_seq_len = 40, max_sequences = 3)
// CHECK-SAME: kv_cache(layers = 1, heads = 2, head_dim = 4, block_size = 16, blocks = 9, dtype = f32)
// CHECK-SAME: arena_bytes = 1408
// CHECK: %[[IDS:.+]] = plan.input "token_ids" token_ids at 0 : memref<?xi32>
// CHECK: %[[POS:.+]] = plan.input "positions" positions at 64 : memref<?xi32>
// CHECK: %[[SLOTS:.+]] = plan.input "sequence_slots" sequence_slots at 128 : memref<?xi32>
// CHECK: %[[ROWS:.+]] = plan.input "logit_rows" logit_rows at 192 : memref<?xi32>
// CHECK: %[[TABLE:.+]] = plan.weight "word_embeddings.weight" from "model.safetensors" ["word_embeddings.weight"] bf16 : memref<16x8xf32>
// CHECK: %[[EMB:.+]] = plan.buffer "embeddings" tokens at 256 : memref<?x8xf32>
// CHECK: plan.embedding_gather ins(%[[IDS]], %[[TABLE]] : {{.*}}) outs(%[[EMB]] :
// CHECK: %[[NORM:.+]] = plan.buffer "h.0.attn_norm" tokens at 384 : memref<?x8xf32>
// CHECK: plan.layer_norm ins(%[[EMB]], %{{.+}}, %{{.+}} : {{.*}}) outs(%[[NORM]] : memref<?x8xf32>) {epsilon = 9.99999974E-6 : f32}
// CHECK: %[[QKV:.+]] = plan.buffer "h.0.qkv" tokens at 512 : memref<?x24xf32>
// CHECK: plan.linear ins(%[[NORM]], %{{.+}}, %{{.+}} : {{.*}}) outs(%[[QKV]] :
// CHECK: %[[CTX:.+]] = plan.buffer "h.0.attn_context" tokens at 896 : memref<?x8xf32>
// CHECK: plan.alibi_attention ins(%[[QKV]], %[[POS]], %[[SLOTS]] : {{.*}}) outs(%[[CTX]] : memref<?x8xf32>) {alibi_slopes = array<f32: 2.500000e-01, 6.250000e-02>, head_dim = 4 : i64, layer = 0 : i64, num_heads = 2 : i64}
// CHECK: %[[PICK:.+]] = plan.buffer "logit_hidden" logit_rows at 1024 : memref<?x8xf32>
// CHECK: plan.gather_rows ins(%[[CTX]], %[[ROWS]] : {{.*}}) outs(%[[PICK]] :
// CHECK: %[[LOGITS:.+]] = plan.buffer "logits" logit_rows at 1152 role logits : memref<?x16xf32>
// The LM head is the linear kernel without a bias, on the tied table.
// CHECK: plan.linear ins(%[[PICK]], %[[TABLE]] : memref<?x8xf32>, memref<16x8xf32>) outs(%[[LOGITS]] :
// CHECK-NOT: func.func
// CHECK-NOT: bloom.
module attributes {bloom.model_name = "tiny", bloom.checkpoint_dir = "/ckpt", bloom.eos_token_id = 2 : i64} {
  func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x16xf32> {
    %table = bloom.weight "word_embeddings.weight" from "model.safetensors" ["word_embeddings.weight"] bf16 : tensor<16x8xf32>
    %e = bloom.embedding %ids, %table : (tensor<?xi32>, tensor<16x8xf32>) -> tensor<?x8xf32> loc("embeddings")
    %g = bloom.weight "h.0.input_layernorm.weight" : tensor<8xf32>
    %b = bloom.weight "h.0.input_layernorm.bias" : tensor<8xf32>
    %n = bloom.layer_norm %e, %g, %b {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8xf32> loc("h.0.attn_norm")
    %w = bloom.weight "h.0.self_attention.query_key_value.weight" : tensor<24x8xf32>
    %wb = bloom.weight "h.0.self_attention.query_key_value.bias" : tensor<24xf32>
    %qkv = bloom.linear %n, %w, %wb : (tensor<?x8xf32>, tensor<24x8xf32>, tensor<24xf32>) -> tensor<?x24xf32> loc("h.0.qkv")
    %ctx = bloom.alibi_attention %qkv, %pos, %slots {layer = 0 : i64, num_heads = 2 : i64, head_dim = 4 : i64, alibi_slopes = array<f32: 0.25, 0.0625>} : (tensor<?x24xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x8xf32> loc("h.0.attn_context")
    %pick = bloom.gather_rows %ctx, %rows : (tensor<?x8xf32>, tensor<?xi32>) -> tensor<?x8xf32> loc("logit_hidden")
    %logits = bloom.lm_head %pick, %table : (tensor<?x8xf32>, tensor<16x8xf32>) -> tensor<?x16xf32> loc("logits")
    return %logits : tensor<?x16xf32>
  }
}

// -----

// Tests that gelu, add and an untied head map to their kernels, that
// elementwise results keep their operand's rows, and that a graph without
// module attributes gets the defaults (no layers: an empty KV cache).
// CHECK-LABEL: plan.program "bloom" checkpoint "" eos_token_id = -1
// CHECK-SAME: kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 9, dtype = f32)
// CHECK: %[[E:.+]] = plan.buffer "e" tokens
// CHECK: %[[G:.+]] = plan.buffer "g" tokens at {{[0-9]+}} : memref<?x8xf32>
// CHECK: plan.gelu ins(%[[E]] : memref<?x8xf32>) outs(%[[G]] : memref<?x8xf32>)
// CHECK: %[[S:.+]] = plan.buffer "s" tokens
// CHECK: plan.add ins(%[[G]], %[[E]] : memref<?x8xf32>, memref<?x8xf32>) outs(%[[S]] : memref<?x8xf32>)
// CHECK: %[[HEAD:.+]] = plan.weight "lm_head.weight" : memref<16x8xf32>
// CHECK: plan.linear ins(%{{.+}}, %[[HEAD]] : memref<?x8xf32>, memref<16x8xf32>)
module {
  func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x16xf32> {
    %table = bloom.weight "word_embeddings.weight" : tensor<16x8xf32>
    %e = bloom.embedding %ids, %table : (tensor<?xi32>, tensor<16x8xf32>) -> tensor<?x8xf32> loc("e")
    %g = bloom.gelu %e : tensor<?x8xf32> loc("g")
    %s = bloom.add %g, %e : tensor<?x8xf32> loc("s")
    %pick = bloom.gather_rows %s, %rows : (tensor<?x8xf32>, tensor<?xi32>) -> tensor<?x8xf32> loc("r")
    %head = bloom.weight "lm_head.weight" : tensor<16x8xf32>
    %logits = bloom.lm_head %pick, %head : (tensor<?x8xf32>, tensor<16x8xf32>) -> tensor<?x16xf32> loc("logits")
    return %logits : tensor<?x16xf32>
  }
}
