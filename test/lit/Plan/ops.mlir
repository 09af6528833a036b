// RUN: bloom-opt --split-input-file %s | FileCheck %s
// RUN: bloom-opt --split-input-file %s | bloom-opt --split-input-file | FileCheck %s

// Tests that a program with every tensor declaration and every kernel
// round-trips, with its limits, KV cache and arena.
// CHECK: plan.program "tiny" checkpoint "/models/tiny" eos_token_id = 2
// CHECK-SAME: limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 32, max_sequences = 2)
// CHECK-SAME: kv_cache(layers = 1, heads = 2, head_dim = 4, block_size = 16, blocks = 4, dtype = f32)
// CHECK-SAME: arena_bytes = 1664
plan.program "tiny" checkpoint "/models/tiny" eos_token_id = 2
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 32, max_sequences = 2)
    kv_cache(layers = 1, heads = 2, head_dim = 4, block_size = 16, blocks = 4, dtype = f32)
    arena_bytes = 1664 {
  // CHECK: %[[IDS:.+]] = plan.input "token_ids" token_ids at 0 : memref<?xi32>
  %ids = plan.input "token_ids" token_ids at 0 : memref<?xi32>
  // CHECK: %[[POS:.+]] = plan.input "positions" positions at 64 : memref<?xi32>
  %pos = plan.input "positions" positions at 64 : memref<?xi32>
  // CHECK: %[[SLOTS:.+]] = plan.input "sequence_slots" sequence_slots at 128 : memref<?xi32>
  %slots = plan.input "sequence_slots" sequence_slots at 128 : memref<?xi32>
  // CHECK: %[[ROWS:.+]] = plan.input "logit_rows" logit_rows at 192 : memref<?xi32>
  %rows = plan.input "logit_rows" logit_rows at 192 : memref<?xi32>
  // CHECK: %[[TABLE:.+]] = plan.weight "word_embeddings.weight" from "model.safetensors" ["word_embeddings.weight"] bf16 : memref<16x8xf32>
  %table = plan.weight "word_embeddings.weight" from "model.safetensors" ["word_embeddings.weight"] bf16 : memref<16x8xf32>
  // CHECK: %[[G:.+]] = plan.weight "ln.weight" : memref<8xf32>
  %g = plan.weight "ln.weight" : memref<8xf32>
  %b = plan.weight "ln.bias" : memref<8xf32>
  %wqkv = plan.weight "qkv.weight" : memref<24x8xf32>
  %bqkv = plan.weight "qkv.bias" : memref<24xf32>
  // CHECK: %[[E:.+]] = plan.buffer "embeddings" tokens at 256 : memref<?x8xf32>
  %e = plan.buffer "embeddings" tokens at 256 : memref<?x8xf32>
  // CHECK: plan.embedding_gather ins(%[[IDS]], %[[TABLE]] : memref<?xi32>, memref<16x8xf32>) outs(%[[E]] : memref<?x8xf32>)
  plan.embedding_gather ins(%ids, %table : memref<?xi32>, memref<16x8xf32>) outs(%e : memref<?x8xf32>)
  %n = plan.buffer "norm" tokens at 384 : memref<?x8xf32>
  // CHECK: plan.layer_norm ins(%[[E]], %[[G]], %{{.+}} : memref<?x8xf32>, memref<8xf32>, memref<8xf32>) outs(%{{.+}} : memref<?x8xf32>) {epsilon = 9.99999974E-6 : f32}
  plan.layer_norm ins(%e, %g, %b : memref<?x8xf32>, memref<8xf32>, memref<8xf32>) outs(%n : memref<?x8xf32>) {epsilon = 1.0e-5 : f32}
  %qkv = plan.buffer "qkv" tokens at 512 : memref<?x24xf32>
  // CHECK: plan.linear ins(%{{.+}}, %{{.+}}, %{{.+}} : memref<?x8xf32>, memref<24x8xf32>, memref<24xf32>) outs(%{{.+}} : memref<?x24xf32>)
  plan.linear ins(%n, %wqkv, %bqkv : memref<?x8xf32>, memref<24x8xf32>, memref<24xf32>) outs(%qkv : memref<?x24xf32>)
  %ctx = plan.buffer "context" tokens at 896 : memref<?x8xf32>
  // CHECK: plan.alibi_attention ins(%{{.+}}, %[[POS]], %[[SLOTS]] : memref<?x24xf32>, memref<?xi32>, memref<?xi32>) outs(%{{.+}} : memref<?x8xf32>) {alibi_slopes = array<f32: 2.500000e-01, 6.250000e-02>, head_dim = 4 : i64, layer = 0 : i64, num_heads = 2 : i64}
  plan.alibi_attention ins(%qkv, %pos, %slots : memref<?x24xf32>, memref<?xi32>, memref<?xi32>) outs(%ctx : memref<?x8xf32>) {layer = 0 : i64, num_heads = 2 : i64, head_dim = 4 : i64, alibi_slopes = array<f32: 0.25, 0.0625>}
  %act = plan.buffer "gelu" tokens at 1024 : memref<?x8xf32>
  // CHECK: plan.gelu ins(%{{.+}} : memref<?x8xf32>) outs(%{{.+}} : memref<?x8xf32>)
  plan.gelu ins(%ctx : memref<?x8xf32>) outs(%act : memref<?x8xf32>)
  %sum = plan.buffer "sum" tokens at 1152 : memref<?x8xf32>
  // CHECK: plan.add ins(%{{.+}}, %[[E]] : memref<?x8xf32>, memref<?x8xf32>) outs(%{{.+}} : memref<?x8xf32>)
  plan.add ins(%act, %e : memref<?x8xf32>, memref<?x8xf32>) outs(%sum : memref<?x8xf32>)
  // CHECK: %[[PICK:.+]] = plan.buffer "picked" logit_rows at 1280 : memref<?x8xf32>
  %pick = plan.buffer "picked" logit_rows at 1280 : memref<?x8xf32>
  // CHECK: plan.gather_rows ins(%{{.+}}, %[[ROWS]] : memref<?x8xf32>, memref<?xi32>) outs(%[[PICK]] : memref<?x8xf32>)
  plan.gather_rows ins(%sum, %rows : memref<?x8xf32>, memref<?xi32>) outs(%pick : memref<?x8xf32>)
  // CHECK: %[[LOGITS:.+]] = plan.buffer "logits" logit_rows at 1408 role logits : memref<?x16xf32>
  %logits = plan.buffer "logits" logit_rows at 1408 role logits : memref<?x16xf32>
  // CHECK: plan.linear ins(%[[PICK]], %[[TABLE]] : memref<?x8xf32>, memref<16x8xf32>) outs(%[[LOGITS]] : memref<?x16xf32>)
  plan.linear ins(%pick, %table : memref<?x8xf32>, memref<16x8xf32>) outs(%logits : memref<?x16xf32>)
}

// -----

// Tests that a static activation and a program without layers round-trip.
// CHECK: plan.program "empty" checkpoint "" eos_token_id = -1
// CHECK-SAME: kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 8, dtype = f32)
plan.program "empty" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 8, max_logit_rows = 8, max_seq_len = 64, max_sequences = 2)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 8, dtype = f32)
    arena_bytes = 64 {
  // CHECK: plan.buffer "scratch" static at 0 : memref<4x4xf32>
  %s = plan.buffer "scratch" static at 0 : memref<4x4xf32>
}

// -----

// Tests that a rank's program round-trips: the tensor-parallel group, a
// sliced weight, a vocab-parallel embedding gather and both collectives.
// CHECK: plan.program "tp" checkpoint "/models/tp" eos_token_id = 2
// CHECK-SAME: arena_bytes = 4096 tensor_parallel(rank = 1, size = 2)
plan.program "tp" checkpoint "/models/tp" eos_token_id = 2
    limits(max_batch_tokens = 8, max_logit_rows = 2, max_seq_len = 64, max_sequences = 2)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 8, dtype = f32)
    arena_bytes = 4096 tensor_parallel(rank = 1, size = 2) {
  %ids = plan.input "token_ids" token_ids at 0 : memref<?xi32>
  // CHECK: plan.weight "word_embeddings.weight" from "model.safetensors" ["word_embeddings.weight"] bf16 slice(dim = 0, begin = 8, end = 16) : memref<8x8xf32>
  %table = plan.weight "word_embeddings.weight" from "model.safetensors" ["word_embeddings.weight"] bf16 slice(dim = 0, begin = 8, end = 16) : memref<8x8xf32>
  %p = plan.buffer "embeddings.partial" tokens at 64 : memref<?x8xf32>
  // CHECK: plan.embedding_gather {{.+}} {vocab_begin = 8 : i64, vocab_size = 16 : i64}
  plan.embedding_gather ins(%ids, %table : memref<?xi32>, memref<8x8xf32>) outs(%p : memref<?x8xf32>) {vocab_begin = 8 : i64, vocab_size = 16 : i64}
  %e = plan.buffer "embeddings" tokens at 512 : memref<?x8xf32>
  // CHECK: plan.all_reduce ins(%{{.+}} : memref<?x8xf32>) outs(%{{.+}} : memref<?x8xf32>)
  plan.all_reduce ins(%p : memref<?x8xf32>) outs(%e : memref<?x8xf32>)
  %l = plan.buffer "logits.shard" tokens at 1024 : memref<?x8xf32>
  plan.linear ins(%e, %table : memref<?x8xf32>, memref<8x8xf32>) outs(%l : memref<?x8xf32>)
  %g = plan.buffer "logits" tokens at 2048 : memref<?x16xf32>
  // CHECK: plan.all_gather ins(%{{.+}} : memref<?x8xf32>) outs(%{{.+}} : memref<?x16xf32>)
  plan.all_gather ins(%l : memref<?x8xf32>) outs(%g : memref<?x16xf32>)
}

// -----

// Tests that a program with streamed weights round-trips: its ring of
// weight slots, a host and a disk weight unit, weights placed in them, and
// the prefetch/await instructions.
// CHECK-LABEL: plan.program "t"
// CHECK-SAME: arena_bytes = 1024 weight_slots(count = 2, bytes = 8192) {
// CHECK-NEXT: plan.weight_unit "h.0" host bytes = 4096 slot = 0
// CHECK-NEXT: plan.weight_unit "h.1" disk bytes = 8192 slot = 1 file "weight_units.bin" offset 4096
// CHECK-NEXT: plan.prefetch_weights "h.0"
// CHECK-NEXT: plan.prefetch_weights "h.1"
// CHECK: plan.weight "h.0.w" stream "h.0" at 0 : memref<8x8xf32>
// CHECK: plan.weight "h.1.w" from "model.safetensors" ["h.1.w"] f32 stream "h.1" at 256 : memref<8x8xf32>
// CHECK-NEXT: plan.await_weights "h.0"
// CHECK-NEXT: plan.linear
// CHECK-NEXT: plan.await_weights "h.1"
// CHECK-NEXT: plan.linear
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 weight_slots(count = 2, bytes = 8192) {
  plan.weight_unit "h.0" host bytes = 4096 slot = 0
  plan.weight_unit "h.1" disk bytes = 8192 slot = 1 file "weight_units.bin" offset 4096
  plan.prefetch_weights "h.0"
  plan.prefetch_weights "h.1"
  %x = plan.buffer "x" tokens at 0 : memref<?x8xf32>
  %y = plan.buffer "y" tokens at 256 : memref<?x8xf32>
  %z = plan.buffer "z" tokens at 512 : memref<?x8xf32>
  %w0 = plan.weight "h.0.w" stream "h.0" at 0 : memref<8x8xf32>
  %w1 = plan.weight "h.1.w" from "model.safetensors" ["h.1.w"] f32 stream "h.1" at 256 : memref<8x8xf32>
  plan.await_weights "h.0"
  plan.linear ins(%x, %w0 : memref<?x8xf32>, memref<8x8xf32>) outs(%y : memref<?x8xf32>)
  plan.await_weights "h.1"
  plan.linear ins(%y, %w1 : memref<?x8xf32>, memref<8x8xf32>) outs(%z : memref<?x8xf32>)
}
