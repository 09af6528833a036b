// RUN: bloom-opt --bloom-lower-to-plan --split-input-file --verify-diagnostics %s

// Tests that a later pipeline stage's first argument is the hidden state,
// not token ids.
module attributes {bloom.pp_size = 2 : i64, bloom.pp_stage = 1 : i64, bloom.memory = {activations_bytes = 1024 : i64, kv_block_size = 16 : i64, kv_dtype = f32, kv_head_dim = 1 : i64, kv_num_blocks = 1 : i64, kv_num_heads = 1 : i64, kv_num_layers = 0 : i64, max_batch_tokens = 4 : i64, max_logit_rows = 4 : i64, max_seq_len = 16 : i64, max_sequences = 1 : i64}} {
  // expected-error @+1 {{argument 0 (hidden_in) of pipeline stage 1 must be tensor<?xHIDDENxFLOAT>, got 'tensor<?xi32>'}}
  func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) attributes {bloom.input_offsets = array<i64: 0, 64, 128, 192>} {
    return
  }
}

// -----

// Tests that a stage before the last takes no logit rows.
module attributes {bloom.pp_size = 2 : i64, bloom.pp_stage = 0 : i64, bloom.memory = {activations_bytes = 1024 : i64, kv_block_size = 16 : i64, kv_dtype = f32, kv_head_dim = 1 : i64, kv_num_blocks = 1 : i64, kv_num_heads = 1 : i64, kv_num_layers = 0 : i64, max_batch_tokens = 4 : i64, max_logit_rows = 4 : i64, max_seq_len = 16 : i64, max_sequences = 1 : i64}} {
  // expected-error @+1 {{must have one block and the arguments (token_ids, positions, sequence_slots) on pipeline stage 0 of 2}}
  func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) attributes {bloom.input_offsets = array<i64: 0, 64, 128, 192>} {
    return
  }
}

// -----

// Tests that a stage before the last returns the hidden state, one row
// per token (not rows picked for the logits).
module attributes {bloom.pp_size = 2 : i64, bloom.pp_stage = 0 : i64, bloom.memory = {activations_bytes = 1024 : i64, kv_block_size = 16 : i64, kv_dtype = f32, kv_head_dim = 1 : i64, kv_num_blocks = 1 : i64, kv_num_heads = 1 : i64, kv_num_layers = 0 : i64, max_batch_tokens = 4 : i64, max_logit_rows = 4 : i64, max_seq_len = 16 : i64, max_sequences = 1 : i64}} {
  func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>) -> tensor<?x8xf32> attributes {bloom.input_offsets = array<i64: 0, 64, 128>} {
    %table = bloom.weight "word_embeddings.weight" : tensor<16x8xf32>
    %e = bloom.embedding %ids, %table {bloom.arena_offsets = array<i64: 256>, precision = #bloom.precision<compute = f32, accumulate = f32>} : (tensor<?xi32>, tensor<16x8xf32>) -> tensor<?x8xf32>
    %picked = bloom.gather_rows %e, %pos {bloom.arena_offsets = array<i64: 384>, precision = #bloom.precision<compute = f32, accumulate = f32>} : (tensor<?x8xf32>, tensor<?xi32>) -> tensor<?x8xf32>
    // expected-error @+1 {{on pipeline stage 0 of 2 must return the hidden state, one row per token (an activation [T, hidden])}}
    return %picked : tensor<?x8xf32>
  }
}

// -----

// Tests that the last stage still returns the logits of the selected rows.
module attributes {bloom.pp_size = 2 : i64, bloom.pp_stage = 1 : i64, bloom.memory = {activations_bytes = 1024 : i64, kv_block_size = 16 : i64, kv_dtype = f32, kv_head_dim = 1 : i64, kv_num_blocks = 1 : i64, kv_num_heads = 1 : i64, kv_num_layers = 0 : i64, max_batch_tokens = 4 : i64, max_logit_rows = 4 : i64, max_seq_len = 16 : i64, max_sequences = 1 : i64}} {
  func.func @step(%h: tensor<?x8xf32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x16xf32> attributes {bloom.input_offsets = array<i64: 0, 64, 128, 192>} {
    %table = bloom.weight "word_embeddings.weight" : tensor<16x8xf32>
    %logits = bloom.lm_head %h, %table {bloom.arena_offsets = array<i64: 384>, precision = #bloom.precision<compute = f32, accumulate = f32>} : (tensor<?x8xf32>, tensor<16x8xf32>) -> tensor<?x16xf32>
    // expected-error @+1 {{must return a value with one row per logit row}}
    return %logits : tensor<?x16xf32>
  }
}
