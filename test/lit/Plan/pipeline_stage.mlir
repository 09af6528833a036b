// RUN: bloom-opt --split-input-file %s | FileCheck %s
// RUN: bloom-opt --split-input-file %s | bloom-opt --split-input-file | FileCheck %s

// Tests that a middle pipeline stage round-trips: its position
// (pipeline_stage, printed after tensor_parallel), the hidden state it reads
// (a float [T, hidden] step input) and the one it returns (role hidden_out),
// and no token ids, logit rows or logits.
// CHECK-LABEL: plan.program "middle"
// CHECK-SAME: tensor_parallel(rank = 1, size = 2) pipeline_stage(stage = 1, size = 3)
// CHECK: %[[H:.+]] = plan.input "hidden_in" hidden_in at 0 : memref<?x8xbf16>
// CHECK: plan.buffer "h.1.output" tokens at 192 role hidden_out : memref<?x8xbf16>
// CHECK: plan.add ins(%[[H]], %[[H]] :
plan.program "middle" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 tensor_parallel(rank = 1, size = 2)
    pipeline_stage(stage = 1, size = 3) {
  %h = plan.input "hidden_in" hidden_in at 0 : memref<?x8xbf16>
  %p = plan.input "positions" positions at 64 : memref<?xi32>
  %s = plan.input "sequence_slots" sequence_slots at 128 : memref<?xi32>
  %o = plan.buffer "h.1.output" tokens at 192 role hidden_out : memref<?x8xbf16>
  plan.add ins(%h, %h : memref<?x8xbf16>, memref<?x8xbf16>) outs(%o : memref<?x8xbf16>)
}

// -----

// Tests that the first of several stages reads token ids and returns the
// hidden state, and the last reads it and returns logits.
// CHECK-LABEL: plan.program "first"
// CHECK-SAME: pipeline_stage(stage = 0, size = 2)
// CHECK: plan.input "token_ids" token_ids
// CHECK: role hidden_out
plan.program "first" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 pipeline_stage(stage = 0, size = 2) {
  %ids = plan.input "token_ids" token_ids at 0 : memref<?xi32>
  %o = plan.buffer "h.0.output" tokens at 64 role hidden_out : memref<?x8xf32>
}

// -----

// CHECK-LABEL: plan.program "last"
// CHECK-SAME: pipeline_stage(stage = 1, size = 2)
// CHECK: plan.input "hidden_in" hidden_in at 0 : memref<?x8xf32>
// CHECK: plan.input "logit_rows" logit_rows
// CHECK: role logits
plan.program "last" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 pipeline_stage(stage = 1, size = 2) {
  %h = plan.input "hidden_in" hidden_in at 0 : memref<?x8xf32>
  %r = plan.input "logit_rows" logit_rows at 192 : memref<?xi32>
  %l = plan.buffer "logits" logit_rows at 256 role logits : memref<?x16xf32>
}
