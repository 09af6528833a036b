// RUN: bloom-opt --split-input-file --verify-diagnostics --bloom-partition-tp="tp=4 rank=1" %s

// Tests that a head count tp does not divide is refused: 6 heads cannot be
// split 4 ways (each rank computes whole heads).
func.func @step(%x: tensor<?x12xf32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>) -> tensor<?x12xf32> {
  %w = bloom.weight "h.0.self_attention.query_key_value.weight" : tensor<36x12xf32>
  // expected-error @+1 {{bloom-partition-tp: 6 attention heads are not divisible by tp=4 (each rank computes whole heads)}}
  %c = bloom.alibi_attention %x, %w, %pos, %slots {layer = 0 : i64, num_heads = 6 : i64, head_dim = 2 : i64, alibi_slopes = array<f32: 0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125>} : (tensor<?x12xf32>, tensor<36x12xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x12xf32>
  return %c : tensor<?x12xf32>
}

// -----

// Tests that a vocabulary tp does not divide is refused (10 rows, 4 ranks),
// with the flag that keeps the table whole instead.
func.func @step(%ids: tensor<?xi32>) -> tensor<?x8xf32> {
  %t = bloom.weight "word_embeddings.weight" : tensor<10x8xf32>
  // expected-error @+1 {{bloom-partition-tp: vocabulary of 10 is not divisible by tp=4 (bloom-compile --tp-replicate-vocab, the pass option replicate-vocab, keeps the embedding and LM head whole on every rank)}}
  %e = bloom.embedding %ids, %t : (tensor<?xi32>, tensor<10x8xf32>) -> tensor<?x8xf32>
  return %e : tensor<?x8xf32>
}

// -----

// Tests that an untied LM head over a vocabulary tp does not divide is
// refused too.
func.func @step(%x: tensor<?x8xf32>) -> tensor<?x10xf32> {
  %w = bloom.weight "lm_head.weight" : tensor<10x8xf32>
  // expected-error @+1 {{vocabulary of 10 is not divisible by tp=4}}
  %l = bloom.lm_head %x, %w : (tensor<?x8xf32>, tensor<10x8xf32>) -> tensor<?x10xf32>
  return %l : tensor<?x10xf32>
}

// -----

// Tests that the unfused attention is refused: the pass splits whole heads
// of the fused bloom.alibi_attention.
func.func @step(%qkv: tensor<?x24xf32>) -> tensor<?x2x4xf32> {
  // expected-error @+1 {{bloom.split_heads is unfused attention; run --bloom-fuse before --bloom-partition-tp}}
  %q, %k, %v = bloom.split_heads %qkv {num_heads = 2 : i64, head_dim = 4 : i64} : tensor<?x24xf32> -> tensor<?x2x4xf32>, tensor<?x2x4xf32>, tensor<?x2x4xf32>
  return %q : tensor<?x2x4xf32>
}

// -----

// Tests that a column-sharded tensor reaching an op that needs the whole
// tensor (the attention context added straight into the residual, with no
// row-parallel projection between) is refused rather than miscomputed.
func.func @step(%x: tensor<?x16xf32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>) -> tensor<?x16xf32> {
  %w = bloom.weight "qkv.weight" : tensor<48x16xf32>
  %c = bloom.alibi_attention %x, %w, %pos, %slots {layer = 0 : i64, num_heads = 4 : i64, head_dim = 4 : i64, alibi_slopes = array<f32: 0.25, 0.0625, 0.015625, 0.00390625>} : (tensor<?x16xf32>, tensor<48x16xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x16xf32>
  // expected-error @+1 {{bloom.add reads a column-sharded tensor; --bloom-partition-tp partitions only Megatron's patterns}}
  %s = bloom.add %c, %x : tensor<?x16xf32>
  return %s : tensor<?x16xf32>
}

// -----

// Tests that a graph partitioned already is refused (its weights are slices).
// expected-error @+1 {{bloom-partition-tp: the module is already partitioned}}
module attributes {bloom.tp_rank = 0 : i64, bloom.tp_size = 2 : i64} {
  func.func @step(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    return %x : tensor<?x8xf32>
  }
}

// -----

// Tests that a graph quantized before partitioning is refused: quantization
// runs after the partition, on each rank's slice.
func.func @step(%x: tensor<?x64xf32>) -> tensor<?x8xf32> {
  %q = bloom.weight "w" : tensor<8x64xi8>
  %s = bloom.weight "w.scales" : tensor<8x1xf16>
  // expected-error @+1 {{bloom-partition-tp: the weights are already quantized; run --bloom-quantize-weights after --bloom-partition-tp}}
  %w = bloom.dequantize %q, %s {group_size = 0 : i64} : (tensor<8x64xi8>, tensor<8x1xf16>) -> tensor<8x64xf32>
  %y = bloom.linear %x, %w : (tensor<?x64xf32>, tensor<8x64xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
