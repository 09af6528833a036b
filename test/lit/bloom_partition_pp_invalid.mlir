// RUN: not bloom-opt --bloom-partition-pp="pp=2 stage=2" %s 2>&1 | FileCheck %s --check-prefix=STAGE
// RUN: not bloom-opt --bloom-partition-pp="pp=2 stage=-1" %s 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// RUN: not bloom-opt --bloom-partition-pp="pp=0" %s 2>&1 | FileCheck %s --check-prefix=PP0
// RUN: not bloom-opt --bloom-partition-pp="pp=3 stage=0" %s 2>&1 | FileCheck %s --check-prefix=LAYERS
// RUN: not bloom-opt --bloom-partition-pp="pp=2 stage=1" %s 2>&1 | FileCheck %s --check-prefix=CROSS

// Tests the option errors, and that two layers cannot make three stages.
// PP0: error: bloom-partition-pp: pp=0 must be at least 1
// STAGE: error: bloom-partition-pp: stage=2 must be in [0, pp=2)
// NEGATIVE: error: bloom-partition-pp: stage=-1 must be in [0, pp=2)
// LAYERS: error: bloom-partition-pp: pp=3 stages need at least one layer each, but the graph has 2 layers
//
// Tests that a cut crossed by more than the residual stream is refused:
// layer 1 reads the embedding besides layer 0's output.
// CROSS: error: bloom-partition-pp: the cut before stage 1 crosses 2 values; a stage cut carries only the residual stream

module {
  func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x8xf32> {
    %table = bloom.weight "word_embeddings.weight" : tensor<8x4xf32>
    %e = bloom.embedding %ids, %table : (tensor<?xi32>, tensor<8x4xf32>) -> tensor<?x4xf32> loc("embeddings")
    %w0 = bloom.weight "h.0.mlp.weight" : tensor<4x4xf32>
    %u0 = bloom.linear %e, %w0 : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32> loc("h.0.mlp")
    %s0 = bloom.add %u0, %e : tensor<?x4xf32> loc("h.0.output")
    %w1 = bloom.weight "h.1.mlp.weight" : tensor<4x4xf32>
    %u1 = bloom.linear %s0, %w1 : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32> loc("h.1.mlp")
    %s1 = bloom.add %u1, %e : tensor<?x4xf32> loc("h.1.output")
    %r = bloom.gather_rows %s1, %rows : (tensor<?x4xf32>, tensor<?xi32>) -> tensor<?x4xf32> loc("logit_hidden")
    %l = bloom.lm_head %r, %table : (tensor<?x4xf32>, tensor<8x4xf32>) -> tensor<?x8xf32> loc("logits")
    return %l : tensor<?x8xf32>
  }
}
