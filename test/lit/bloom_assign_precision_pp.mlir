// RUN: bloom-opt --bloom-assign-precision=policy=bf16 --split-input-file %s | FileCheck %s --check-prefix=BF16
// RUN: bloom-opt --bloom-assign-precision=policy=fp16 --split-input-file %s | FileCheck %s --check-prefix=FP16
// RUN: bloom-opt --bloom-assign-precision --split-input-file %s | FileCheck %s --check-prefix=FP32

// Tests the hidden state at a pipeline cut (stages from
// --bloom-partition-pp): both sides store it as the residual stream is
// stored, so stage S's result is stage S+1's argument in one dtype. A
// middle stage of 3: it reads the stream (argument 0) and returns its next
// value. bf16: bf16 in and out, no cast. fp16: the residual stream is f32,
// so f32 in and out; the norm of it is f16 as in a whole graph. fp32: f32.
// BF16-LABEL: func.func @step
// BF16-SAME: (%[[H:.+]]: tensor<?x4xbf16>, %{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>) -> tensor<?x4xbf16>
// BF16: bloom.layer_norm %[[H]], {{.*}} -> tensor<?x4xbf16>
// BF16: %[[S:.+]] = bloom.add {{.*}} : tensor<?x4xbf16>
// BF16-NOT: bloom.cast
// BF16: return %[[S]] : tensor<?x4xbf16>
// FP16-LABEL: func.func @step
// FP16-SAME: (%[[H:.+]]: tensor<?x4xf32>, %{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>) -> tensor<?x4xf32>
// FP16: bloom.layer_norm %[[H]], {{.*}} -> tensor<?x4xf16>
// FP16: %[[S:.+]] = bloom.add {{.*}} : tensor<?x4xf32>
// FP16-NOT: bloom.cast
// FP16: return %[[S]] : tensor<?x4xf32>
// FP32-LABEL: func.func @step
// FP32-SAME: (%{{.+}}: tensor<?x4xf32>, %{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>) -> tensor<?x4xf32>
// FP32-NOT: bloom.cast
module attributes {bloom.pp_size = 3 : i64, bloom.pp_stage = 1 : i64} {
  func.func @step(%h: tensor<?x4xf32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>) -> tensor<?x4xf32> {
    %g = bloom.weight "h.1.attn_norm.weight" : tensor<4xf32>
    %n = bloom.layer_norm %h, %g, %g {epsilon = 1.0e-5 : f32} : (tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4xf32> loc("h.1.attn_norm")
    %w = bloom.weight "h.1.mlp.weight" : tensor<4x4xf32>
    %u = bloom.linear %n, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32> loc("h.1.mlp")
    %s = bloom.add %u, %h : tensor<?x4xf32> loc("h.1.output")
    return %s : tensor<?x4xf32>
  }
}

// -----

// Tests a first stage whose result its own op would store otherwise: a
// linear's output (not added into anything here) is f16 under fp16, and is
// cast to the stream's f32 before it leaves the stage; bf16 stores both as
// bf16 (no cast). The token ids stay i32.
// BF16-LABEL: func.func @step
// BF16-SAME: (%{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>) -> tensor<?x4xbf16>
// BF16-NOT: bloom.cast
// FP16-LABEL: func.func @step
// FP16-SAME: (%{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>) -> tensor<?x4xf32>
// FP16: %[[U:.+]] = bloom.linear {{.*}} -> tensor<?x4xf16>
// FP16: %[[C:.+]] = bloom.cast %[[U]] {{.*}} : tensor<?x4xf16> to tensor<?x4xf32>
// FP16: return %[[C]] : tensor<?x4xf32>
module attributes {bloom.pp_size = 2 : i64, bloom.pp_stage = 0 : i64} {
  func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>) -> tensor<?x4xf32> {
    %table = bloom.weight "word_embeddings.weight" : tensor<8x4xf32>
    %e = bloom.embedding %ids, %table : (tensor<?xi32>, tensor<8x4xf32>) -> tensor<?x4xf32> loc("embeddings")
    %w = bloom.weight "h.0.mlp.weight" : tensor<4x4xf32>
    %u = bloom.linear %e, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32> loc("h.0.mlp")
    return %u : tensor<?x4xf32>
  }
}

// -----

// Tests that the last stage reads the stream as the others return it and
// still returns f32 logits.
// BF16-LABEL: func.func @step
// BF16-SAME: (%{{.+}}: tensor<?x4xbf16>, %{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>) -> tensor<?x8xf32>
// FP16-LABEL: func.func @step
// FP16-SAME: (%{{.+}}: tensor<?x4xf32>, %{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>) -> tensor<?x8xf32>
module attributes {bloom.pp_size = 2 : i64, bloom.pp_stage = 1 : i64} {
  func.func @step(%h: tensor<?x4xf32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x8xf32> {
    %g = bloom.weight "ln_f.weight" : tensor<4xf32>
    %n = bloom.layer_norm %h, %g, %g {epsilon = 1.0e-5 : f32} : (tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4xf32> loc("ln_f")
    %r = bloom.gather_rows %n, %rows : (tensor<?x4xf32>, tensor<?xi32>) -> tensor<?x4xf32> loc("logit_hidden")
    %table = bloom.weight "word_embeddings.weight" : tensor<8x4xf32>
    %l = bloom.lm_head %r, %table : (tensor<?x4xf32>, tensor<8x4xf32>) -> tensor<?x8xf32> loc("logits")
    return %l : tensor<?x8xf32>
  }
}
