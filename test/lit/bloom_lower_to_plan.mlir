// RUN: bloom-opt --bloom-assign-precision --bloom-plan-memory="max-batch-tokens=4 max-seq-len=40 max-sequences=3" --bloom-lower-to-plan --split-input-file %s | FileCheck %s
// RUN: bloom-opt --bloom-assign-precision=policy=bf16 --bloom-plan-memory="max-batch-tokens=4 max-seq-len=40 max-sequences=3" --bloom-lower-to-plan --split-input-file %s | FileCheck %s --check-prefix=BF16

// Tests the lowering of a one-layer graph: step inputs with roles, tied
// weights kept as one tensor, the kernel of each op (the fused attention as
// a linear into its qkv buffer, then the attention kernel), the planned
// offsets, precision as compute/accumulate, and the KV cache's size.
//
// Offsets (f32, T = 4, R = min(3 sequences, 4) = 3), see
// bloom_plan_memory.mlir for the method: qkv [4x24] 384 B at 0 (live in the
// attention only); logits [3x16] 192 B at 384; embeddings 0; attn_norm 576;
// attn_context 704; logit_hidden 0; the inputs at 832, 896, 960, 1024;
// arena 1088. KV cache: 3 sequences x ceil(40 / 16) = 3 blocks = 9 blocks.

// CHECK-LABEL: plan.program "tiny" checkpoint "/ckpt" eos_token_id = 2
// CHECK-SAME: limits(max_batch_tokens = 4, max_logit_rows = 3, max_seq_len = 40, max_sequences = 3)
// CHECK-SAME: kv_cache(layers = 1, heads = 2, head_dim = 4, block_size = 16, blocks = 9, dtype = f32)
// CHECK-SAME: arena_bytes = 1088
// CHECK: %[[IDS:.+]] = plan.input "token_ids" token_ids at 832 : memref<?xi32>
// CHECK: %[[POS:.+]] = plan.input "positions" positions at 896 : memref<?xi32>
// CHECK: %[[SLOTS:.+]] = plan.input "sequence_slots" sequence_slots at 960 : memref<?xi32>
// CHECK: %[[ROWS:.+]] = plan.input "logit_rows" logit_rows at 1024 : memref<?xi32>
// CHECK: %[[TABLE:.+]] = plan.weight "word_embeddings.weight" from "model.safetensors" ["word_embeddings.weight"] bf16 : memref<16x8xf32>
// CHECK: %[[EMB:.+]] = plan.buffer "embeddings" tokens at 0 : memref<?x8xf32>
// CHECK: plan.embedding_gather ins(%[[IDS]], %[[TABLE]] : {{.*}}) outs(%[[EMB]] : memref<?x8xf32>) {accumulate = f32, compute = f32}
// CHECK: %[[NORM:.+]] = plan.buffer "h.0.attn_norm" tokens at 576 : memref<?x8xf32>
// CHECK: plan.layer_norm ins(%[[EMB]], %{{.+}}, %{{.+}} : {{.*}}) outs(%[[NORM]] : memref<?x8xf32>) {accumulate = f32, compute = f32, epsilon = 9.99999974E-6 : f32}
// CHECK: %[[QKV:.+]] = plan.buffer "h.0.qkv" tokens at 0 : memref<?x24xf32>
// CHECK: plan.linear ins(%[[NORM]], %{{.+}}, %{{.+}} : {{.*}}) outs(%[[QKV]] :
// CHECK: %[[CTX:.+]] = plan.buffer "h.0.attn_context" tokens at 704 : memref<?x8xf32>
// CHECK: plan.alibi_attention ins(%[[QKV]], %[[POS]], %[[SLOTS]] : {{.*}}) outs(%[[CTX]] : memref<?x8xf32>) {accumulate = f32, alibi_slopes = array<f32: 2.500000e-01, 6.250000e-02>, compute = f32, head_dim = 4 : i64, layer = 0 : i64, num_heads = 2 : i64}
// CHECK: %[[PICK:.+]] = plan.buffer "logit_hidden" logit_rows at 0 : memref<?x8xf32>
// CHECK: plan.gather_rows ins(%[[CTX]], %[[ROWS]] : {{.*}}) outs(%[[PICK]] :
// CHECK: %[[LOGITS:.+]] = plan.buffer "logits" logit_rows at 384 role logits : memref<?x16xf32>
// The LM head is the linear kernel without a bias, on the tied table.
// CHECK: plan.linear ins(%[[PICK]], %[[TABLE]] : memref<?x8xf32>, memref<16x8xf32>) outs(%[[LOGITS]] :
// CHECK-NOT: func.func
// CHECK-NOT: bloom.weight

// Under bf16 the weights, activations and KV cache are bf16, the logits f32.
// BF16-LABEL: plan.program "tiny"
// BF16-SAME: dtype = bf16
// BF16: plan.weight "word_embeddings.weight" {{.*}} : memref<16x8xbf16>
// BF16: plan.linear {{.*}} outs({{.*}} : memref<?x24xbf16>) {accumulate = f32, compute = bf16}
// BF16: plan.alibi_attention {{.*}} outs({{.*}} : memref<?x8xbf16>) {accumulate = f32, {{.*}}, compute = f32,
// BF16: plan.buffer "logits" logit_rows at {{[0-9]+}} role logits : memref<?x16xf32>
module attributes {bloom.model_name = "tiny", bloom.checkpoint_dir = "/ckpt", bloom.eos_token_id = 2 : i64} {
  func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x16xf32> {
    %table = bloom.weight "word_embeddings.weight" from "model.safetensors" ["word_embeddings.weight"] bf16 : tensor<16x8xf32>
    %e = bloom.embedding %ids, %table : (tensor<?xi32>, tensor<16x8xf32>) -> tensor<?x8xf32> loc("embeddings")
    %g = bloom.weight "h.0.input_layernorm.weight" : tensor<8xf32>
    %b = bloom.weight "h.0.input_layernorm.bias" : tensor<8xf32>
    %n = bloom.layer_norm %e, %g, %b {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8xf32> loc("h.0.attn_norm")
    %w = bloom.weight "h.0.self_attention.query_key_value.weight" : tensor<24x8xf32>
    %wb = bloom.weight "h.0.self_attention.query_key_value.bias" : tensor<24xf32>
    %ctx = bloom.alibi_attention %n, %w bias %wb, %pos, %slots {layer = 0 : i64, num_heads = 2 : i64, head_dim = 4 : i64, alibi_slopes = array<f32: 0.25, 0.0625>} : (tensor<?x8xf32>, tensor<24x8xf32>, tensor<24xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x8xf32> loc(fused["h.0.attn_context", "h.0.qkv"])
    %pick = bloom.gather_rows %ctx, %rows : (tensor<?x8xf32>, tensor<?xi32>) -> tensor<?x8xf32> loc("logit_hidden")
    %logits = bloom.lm_head %pick, %table : (tensor<?x8xf32>, tensor<16x8xf32>) -> tensor<?x16xf32> loc("logits")
    return %logits : tensor<?x16xf32>
  }
}

// -----

// Tests that gelu, add, add_layer_norm (two buffers), a gelu epilogue and
// an untied head map to their kernels, that elementwise results keep their
// operand's rows, and that a graph without module attributes gets the
// defaults (no layers: an empty KV cache).
// CHECK-LABEL: plan.program "bloom" checkpoint "" eos_token_id = -1
// CHECK-SAME: kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 9, dtype = f32)
// CHECK: %[[E:.+]] = plan.buffer "e" tokens
// CHECK: %[[G:.+]] = plan.buffer "g" tokens at {{[0-9]+}} : memref<?x8xf32>
// CHECK: plan.gelu ins(%[[E]] : memref<?x8xf32>) outs(%[[G]] : memref<?x8xf32>)
// CHECK: %[[S:.+]] = plan.buffer "s" tokens
// CHECK: plan.add ins(%[[G]], %[[E]] : memref<?x8xf32>, memref<?x8xf32>) outs(%[[S]] : memref<?x8xf32>)
// CHECK: %[[SUM:.+]] = plan.buffer "sum" tokens
// CHECK: %[[NORMED:.+]] = plan.buffer "normed" tokens
// CHECK: plan.add_layer_norm ins(%[[S]], %[[E]], %{{.+}}, %{{.+}} : {{.*}}) outs(%[[SUM]], %[[NORMED]] : memref<?x8xf32>, memref<?x8xf32>)
// CHECK: %[[U:.+]] = plan.buffer "up" tokens
// CHECK: plan.linear ins(%[[NORMED]], %{{.+}} : {{.*}}) outs(%[[U]] : memref<?x8xf32>) epilogue gelu {accumulate = f32, compute = f32}
// CHECK: %[[HEAD:.+]] = plan.weight "lm_head.weight" : memref<16x8xf32>
// CHECK: plan.linear ins(%{{.+}}, %[[HEAD]] : memref<?x8xf32>, memref<16x8xf32>)
module {
  func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x16xf32> {
    %table = bloom.weight "word_embeddings.weight" : tensor<16x8xf32>
    %e = bloom.embedding %ids, %table : (tensor<?xi32>, tensor<16x8xf32>) -> tensor<?x8xf32> loc("e")
    %g = bloom.gelu %e : tensor<?x8xf32> loc("g")
    %s = bloom.add %g, %e : tensor<?x8xf32> loc("s")
    %gamma = bloom.weight "gamma" : tensor<8xf32>
    %sum, %normed = bloom.add_layer_norm %s, %e, %gamma, %gamma {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) loc(fused["sum", "normed"])
    %wu = bloom.weight "up.weight" : tensor<8x8xf32>
    %up = bloom.linear %normed, %wu epilogue gelu : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32> loc("up")
    %mix = bloom.add %up, %sum : tensor<?x8xf32> loc("mix")
    %pick = bloom.gather_rows %mix, %rows : (tensor<?x8xf32>, tensor<?xi32>) -> tensor<?x8xf32> loc("r")
    %head = bloom.weight "lm_head.weight" : tensor<16x8xf32>
    %logits = bloom.lm_head %pick, %head : (tensor<?x8xf32>, tensor<16x8xf32>) -> tensor<?x16xf32> loc("logits")
    return %logits : tensor<?x16xf32>
  }
}
