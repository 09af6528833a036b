// RUN: bloom-opt --bloom-lower-to-plan --split-input-file --verify-diagnostics %s

// Tests that an op without a plan kernel is refused with the pass to run.
func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>, %s: tensor<?x2x?xf32>) {
  // expected-error @+1 {{bloom.softmax has no kernel; run --bloom-fuse first}}
  %p = bloom.softmax %s : tensor<?x2x?xf32> -> tensor<?x2x?xf32>
  return
}

// -----

// Tests that an op without a precision is refused.
func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) {
  %table = bloom.weight "word_embeddings.weight" : tensor<16x8xf32>
  // expected-error @+1 {{bloom.embedding has no precision; run --bloom-assign-precision first}}
  %e = bloom.embedding %ids, %table : (tensor<?xi32>, tensor<16x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that the fused attention needs its qkv precision too.
func.func @step(%x: tensor<?x8xf32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) {
  %w = bloom.weight "qkv" : tensor<24x8xf32>
  // expected-error @+1 {{bloom.alibi_attention has no precision; run --bloom-assign-precision first}}
  %a = bloom.alibi_attention %x, %w, %pos, %slots {layer = 0 : i64, num_heads = 2 : i64, head_dim = 4 : i64, alibi_slopes = array<f32: 0.25, 0.0625>, precision = #bloom.precision<compute = f32, accumulate = f32>} : (tensor<?x8xf32>, tensor<24x8xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that a graph without a memory plan is refused.
// expected-error @+1 {{no memory plan; run --bloom-plan-memory first}}
module {
  func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) {
    return
  }
}

// -----

// Tests that the step must return logits for the selected rows only.
module attributes {bloom.memory = {activations_bytes = 1024 : i64, kv_block_size = 16 : i64, kv_dtype = f32, kv_head_dim = 1 : i64, kv_num_blocks = 1 : i64, kv_num_heads = 1 : i64, kv_num_layers = 0 : i64, max_batch_tokens = 4 : i64, max_logit_rows = 4 : i64, max_seq_len = 16 : i64, max_sequences = 1 : i64}} {
  func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x16xf32> attributes {bloom.input_offsets = array<i64: 0, 64, 128, 192>} {
    %table = bloom.weight "word_embeddings.weight" : tensor<16x8xf32>
    %e = bloom.embedding %ids, %table {bloom.arena_offsets = array<i64: 256>, precision = #bloom.precision<compute = f32, accumulate = f32>} : (tensor<?xi32>, tensor<16x8xf32>) -> tensor<?x8xf32>
    %logits = bloom.lm_head %e, %table {bloom.arena_offsets = array<i64: 384>, precision = #bloom.precision<compute = f32, accumulate = f32>} : (tensor<?x8xf32>, tensor<16x8xf32>) -> tensor<?x16xf32>
    // expected-error @+1 {{must return a value with one row per logit row}}
    return %logits : tensor<?x16xf32>
  }
}

// -----

// Tests that a module without @step is rejected.
// expected-error @+1 {{no func.func @step}}
module {
  func.func @other() {
    return
  }
}
