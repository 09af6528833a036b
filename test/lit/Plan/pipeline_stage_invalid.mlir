// RUN: bloom-opt --split-input-file --verify-diagnostics %s

// Tests that a stage position needs both its stage and its size.
// expected-error @+1 {{needs both pp_stage and pp_size or neither}}
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 attributes {pp_stage = 1 : i64} {
}

// -----

// Tests that the stage lies in the pipeline.
// expected-error @+1 {{pipeline stage 2 is not in [0, 2)}}
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 pipeline_stage(stage = 2, size = 2) {
}

// -----

// Tests that a later stage reads no token ids (the hidden state takes
// their place).
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 pipeline_stage(stage = 1, size = 2) {
  // expected-error @+1 {{has role token_ids, which pipeline stage 1 of 2 does not have}}
  %ids = plan.input "token_ids" token_ids at 0 : memref<?xi32>
}

// -----

// Tests that a stage before the last writes no logits.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 pipeline_stage(stage = 0, size = 2) {
  // expected-error @+1 {{has role logits, which pipeline stage 0 of 2 does not have}}
  %l = plan.buffer "logits" logit_rows at 0 role logits : memref<?x16xf32>
}

// -----

// Tests that without a pipeline there is no hidden state to read.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 {
  // expected-error @+1 {{has role hidden_in, which pipeline stage 0 of 1 does not have}}
  %h = plan.input "hidden_in" hidden_in at 0 : memref<?x8xf32>
}

// -----

// Tests that the hidden state read is [T, hidden] floats.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 pipeline_stage(stage = 1, size = 2) {
  // expected-error @+1 {{with role hidden_in must be memref<?xHIDDENxFLOAT>, got 'memref<?xi32>'}}
  %h = plan.input "hidden_in" hidden_in at 0 : memref<?xi32>
}

// -----

// Tests that the i32 inputs stay vectors.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 {
  // expected-error @+1 {{with role positions must be memref<?xi32>, got 'memref<?x8xf32>'}}
  %p = plan.input "positions" positions at 0 : memref<?x8xf32>
}

// -----

// Tests that the hidden state returned is an activation, not a step input.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 pipeline_stage(stage = 0, size = 2) {
  // expected-error @+1 {{cannot have role hidden_out: that is a plan.buffer's}}
  %h = plan.input "h" hidden_out at 0 : memref<?x8xf32>
}

// -----

// Tests that the hidden state returned has one row per token.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 pipeline_stage(stage = 0, size = 2) {
  // expected-error @+1 {{with role hidden_out must be memref<?xHIDDENxFLOAT> with rows tokens, got 'memref<?x8xf32>'}}
  %h = plan.buffer "h" logit_rows at 0 role hidden_out : memref<?x8xf32>
}
