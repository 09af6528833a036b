// Tests of --bloom-partition-pp on a hand-written fused graph: 3 layers,
// hidden 4, vocab 8, f32, tied LM head. Each layer is a layer norm (layer
// 0's own; layers 1 and 2 fused into the previous layer's output as
// add_layer_norm "h.N.output"+"h.(N+1).attn_norm") and one 4x4 linear.
//
// The cost (bytes a decode step reads) per unit, each weight counted in the
// unit of the ops that read it (a fused op belongs to its first name's layer,
// so it reads the next layer's norm weights). The embedding gathers T rows
// of its table (T = the step's tokens, charged 0 rows); the LM head reads
// the whole tied table:
//   embedding: the gather 0 + embeddings norm 2x16         =  32
//   layer 0:   h.0 norm 32 + h.0.mlp 64 + h.1 norm 32     = 128
//   layer 1:   h.1.mlp 64 + h.2 norm 32                    =  96
//   layer 2:   h.2.mlp 64 + ln_f 32                        =  96
//   head:      the tied table 8x4x4                        = 128
// pp=3: one layer per stage (the only split).
// pp=2 (3 layers, not divisible): [0 | 1, 2] costs 32+128 = 160 and
// 96+96+128 = 320; [0, 1 | 2] costs 32+128+96 = 256 and 96+128 = 224. The
// largest stage is smallest for [0, 1 | 2]: stage 0 takes layers 0 and 1.
// (Were the table charged to the embedding too, stage 0 would cost 128
// more and take layer 0 alone.)
//
// RUN: bloom-opt --split-input-file --bloom-partition-pp="pp=3 stage=0" %s --mlir-print-debuginfo --mlir-print-local-scope | FileCheck %s --check-prefix=PP3S0
// RUN: bloom-opt --split-input-file --bloom-partition-pp="pp=3 stage=1" %s --mlir-print-debuginfo --mlir-print-local-scope | FileCheck %s --check-prefix=PP3S1
// RUN: bloom-opt --split-input-file --bloom-partition-pp="pp=3 stage=2" %s --mlir-print-debuginfo --mlir-print-local-scope | FileCheck %s --check-prefix=PP3S2
// RUN: bloom-opt --split-input-file --bloom-partition-pp="pp=2 stage=0" %s | FileCheck %s --check-prefix=PP2S0
// RUN: bloom-opt --split-input-file --bloom-partition-pp="pp=2 stage=1" %s | FileCheck %s --check-prefix=PP2S1
// RUN: bloom-opt --split-input-file --bloom-partition-pp="pp=1" %s | FileCheck %s --check-prefix=PP1

// BLOOM-176B (70 layers, hidden h = 14336, vocab V = 250880, tied), from
// its preset (shapes only), fused, at pp=3. A layer reads about 12·h²
// weights (c), the LM head V·h, E = V / (12·h) = 1.458 layers; the
// embedding's gather reads a few rows, so stage 0 costs its layers and the
// embedding norm's 2·h (and layer 0 its own input norm, 2·h more). With
// stages of a, b, c layers costing a, b, c + E (a + b + c = 70), the largest
// is smallest at a = b = 24, c = 22: 24 layers and 4·h (c + E = 23.46;
// 24/23/23 would give 24.46, 23/24/23 too). Stage 0 takes the most layers
// within that bound, 24 (25 would cost 25 layers); stage 1 the most that
// leaves the last within it, 24; the last 22.
// The stages then compose with the tensor-parallel partition and memory
// planning; a stage's attention layers (its KV cache's) count from 0, so
// stage 1's 24 layers are cache layers 0..23 and its cache holds 24.
// RUN: bloom-compile --model=%bloom_src_root/models/bloom/presets/bloom-176b.json --shapes-only --emit=fuse > %t.b176
// RUN: bloom-opt --bloom-partition-pp="pp=3 stage=0" %t.b176 | FileCheck %s --check-prefix=B176S0
// RUN: bloom-opt --bloom-partition-pp="pp=3 stage=1" --bloom-partition-tp="tp=2 rank=1" --bloom-assign-precision=policy=bf16 --bloom-plan-memory %t.b176 | FileCheck %s --check-prefix=B176S1
// RUN: bloom-opt --bloom-partition-pp="pp=3 stage=2" %t.b176 | FileCheck %s --check-prefix=B176S2
// B176S0: bloom.pp_layers = array<i64: 0, 24>
// B176S0: func.func @step(%{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>) -> tensor<?x14336xf32>
// B176S1: kv_num_layers = 24 : i64
// B176S1: bloom.pp_layers = array<i64: 24, 48>
// B176S1: func.func @step(%{{.+}}: tensor<?x14336xbf16>, %{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>) -> tensor<?x14336xbf16>
// B176S1-NOT: bloom.embedding
// B176S1: bloom.alibi_attention {{.+}}layer = 0 : i64, num_heads = 56 : i64
// B176S1: layer = 23 : i64
// B176S1-NOT: layer = 24 : i64
// B176S1-NOT: bloom.lm_head
// B176S2: bloom.pp_layers = array<i64: 48, 70>
// B176S2: func.func @step(%{{.+}}: tensor<?x14336xf32>, %{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>) -> tensor<?x250880xf32>
// B176S2: bloom.lm_head

// Tests that pp=1 changes nothing but the module's record.
// PP1: module attributes {bloom.pp_size = 1 : i64, bloom.pp_stage = 0 : i64}
// PP1: func.func @step(%{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>) -> tensor<?x8xf32>
// PP1: bloom.embedding
// PP1: bloom.lm_head

// Tests stage 0 of 3: the embedding and layer 0; the fused op across the
// cut keeps only its sum, as an add named h.0.output, which is the step's
// result instead of the logits; no logit rows argument.
// PP3S0: module attributes {bloom.pp_layers = array<i64: 0, 1>, bloom.pp_size = 3 : i64, bloom.pp_stage = 0 : i64}
// PP3S0: func.func @step(%[[IDS:.+]]: tensor<?xi32> {{.+}}, %{{.+}}: tensor<?xi32> {{.+}}, %{{.+}}: tensor<?xi32> {{.+}}) -> tensor<?x4xf32>
// PP3S0: bloom.embedding %[[IDS]],
// PP3S0: %[[EN:.+]] = bloom.layer_norm {{.+}} loc("embeddings_norm")
// PP3S0: %[[U0:.+]] = bloom.linear {{.+}} loc("h.0.mlp")
// PP3S0-NOT: bloom.weight "h.1.input_layernorm
// PP3S0: %[[S0:.+]] = bloom.add %[[U0]], %[[EN]] : tensor<?x4xf32> loc("h.0.output")
// PP3S0-NEXT: return %[[S0]] : tensor<?x4xf32>
// PP3S0-NOT: h.1.
// PP3S0-NOT: bloom.lm_head
//
// Tests the middle stage: layer 1 only; the residual stream is the first
// argument (no token ids), layer 1's norm is recomputed from it, and its
// output (the add half of the fused op) is the result.
// PP3S1: module attributes {bloom.pp_layers = array<i64: 1, 2>, bloom.pp_size = 3 : i64, bloom.pp_stage = 1 : i64}
// PP3S1: func.func @step(%[[H:[^:]+]]: tensor<?x4xf32> {{.+}}, %{{.+}}: tensor<?xi32> {{.+}}, %{{.+}}: tensor<?xi32> {{.+}}) -> tensor<?x4xf32>
// PP3S1-NOT: bloom.embedding
// PP3S1-NOT: "h.0.
// PP3S1: %[[G:.+]] = bloom.weight "h.1.input_layernorm.weight"
// PP3S1: %[[B:.+]] = bloom.weight "h.1.input_layernorm.bias"
// PP3S1: %[[N:.+]] = bloom.layer_norm %[[H]], %[[G]], %[[B]] {{.+}} loc("h.1.attn_norm")
// PP3S1: %[[U:.+]] = bloom.linear %[[N]], {{.+}} loc("h.1.mlp")
// PP3S1-NOT: "h.2.
// PP3S1: %[[S:.+]] = bloom.add %[[U]], %[[H]] : tensor<?x4xf32> loc("h.1.output")
// PP3S1-NEXT: return %[[S]] : tensor<?x4xf32>
//
// Tests the last stage: layer 2, ln_f, gather_rows and the tied LM head
// (the table stays for it); the stream is the first argument, the logit
// rows the last.
// PP3S2: module attributes {bloom.pp_layers = array<i64: 2, 3>, bloom.pp_size = 3 : i64, bloom.pp_stage = 2 : i64}
// PP3S2: func.func @step(%[[H:[^:]+]]: tensor<?x4xf32> {{.+}}, %{{.+}}: tensor<?xi32> {{.+}}, %{{.+}}: tensor<?xi32> {{.+}}, %[[ROWS:[^:]+]]: tensor<?xi32> {{.+}}) -> tensor<?x8xf32>
// PP3S2: %[[T:.+]] = bloom.weight "word_embeddings.weight"
// PP3S2-NOT: bloom.embedding
// PP3S2: bloom.layer_norm %[[H]], {{.+}} loc("h.2.attn_norm")
// PP3S2: %[[U:.+]] = bloom.linear {{.+}} loc("h.2.mlp")
// PP3S2: %{{.+}}, %[[NF:.+]] = bloom.add_layer_norm %[[U]], %[[H]], {{.+}} loc(fused["h.2.output", "ln_f"])
// PP3S2: %[[R:.+]] = bloom.gather_rows %[[NF]], %[[ROWS]]
// PP3S2: %[[L:.+]] = bloom.lm_head %[[R]], %[[T]]
// PP3S2: return %[[L]] : tensor<?x8xf32>
//
// Tests pp=2 on 3 layers: stage 0 is the embedding and layers 0 and 1 (as
// derived above; the fused op across the cut keeps its sum, h.1.output),
// stage 1 layer 2 (its norm recomputed from the argument) with the head.
// PP2S0: module attributes {bloom.pp_layers = array<i64: 0, 2>, bloom.pp_size = 2 : i64, bloom.pp_stage = 0 : i64}
// PP2S0: func.func @step(%{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>) -> tensor<?x4xf32>
// PP2S0: bloom.embedding
// PP2S0: bloom.weight "h.0.mlp.weight"
// PP2S0: bloom.add_layer_norm
// PP2S0: bloom.weight "h.1.mlp.weight"
// PP2S0-NOT: "h.2.
// PP2S0: %[[S:.+]] = bloom.add
// PP2S0-NEXT: return %[[S]] : tensor<?x4xf32>
// PP2S1: module attributes {bloom.pp_layers = array<i64: 2, 3>, bloom.pp_size = 2 : i64, bloom.pp_stage = 1 : i64}
// PP2S1: func.func @step(%[[H:[^:]+]]: tensor<?x4xf32>, %{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>, %{{.+}}: tensor<?xi32>) -> tensor<?x8xf32>
// PP2S1-NOT: bloom.embedding
// PP2S1-NOT: "h.0.
// PP2S1-NOT: "h.1.
// PP2S1: bloom.layer_norm %[[H]],
// PP2S1: bloom.weight "h.2.mlp.weight"
// PP2S1: bloom.add_layer_norm %{{.+}}, %[[H]],
// PP2S1: bloom.lm_head
// PP2S1: return %{{.+}} : tensor<?x8xf32>

module {
  func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x8xf32> {
    %table = bloom.weight "word_embeddings.weight" : tensor<8x4xf32> loc("word_embeddings.weight")
    %e = bloom.embedding %ids, %table : (tensor<?xi32>, tensor<8x4xf32>) -> tensor<?x4xf32> loc("embeddings")
    %eg = bloom.weight "word_embeddings_layernorm.weight" : tensor<4xf32> loc("word_embeddings_layernorm.weight")
    %eb = bloom.weight "word_embeddings_layernorm.bias" : tensor<4xf32> loc("word_embeddings_layernorm.bias")
    %en = bloom.layer_norm %e, %eg, %eb {epsilon = 1.0e-5 : f32} : (tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4xf32> loc("embeddings_norm")
    %g0 = bloom.weight "h.0.input_layernorm.weight" : tensor<4xf32> loc("h.0.input_layernorm.weight")
    %b0 = bloom.weight "h.0.input_layernorm.bias" : tensor<4xf32> loc("h.0.input_layernorm.bias")
    %n0 = bloom.layer_norm %en, %g0, %b0 {epsilon = 1.0e-5 : f32} : (tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4xf32> loc("h.0.attn_norm")
    %w0 = bloom.weight "h.0.mlp.weight" : tensor<4x4xf32> loc("h.0.mlp.weight")
    %u0 = bloom.linear %n0, %w0 : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32> loc("h.0.mlp")
    %g1 = bloom.weight "h.1.input_layernorm.weight" : tensor<4xf32> loc("h.1.input_layernorm.weight")
    %b1 = bloom.weight "h.1.input_layernorm.bias" : tensor<4xf32> loc("h.1.input_layernorm.bias")
    %s0, %n1 = bloom.add_layer_norm %u0, %en, %g1, %b1 {epsilon = 1.0e-5 : f32} : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) loc(fused["h.0.output", "h.1.attn_norm"])
    %w1 = bloom.weight "h.1.mlp.weight" : tensor<4x4xf32> loc("h.1.mlp.weight")
    %u1 = bloom.linear %n1, %w1 : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32> loc("h.1.mlp")
    %g2 = bloom.weight "h.2.input_layernorm.weight" : tensor<4xf32> loc("h.2.input_layernorm.weight")
    %b2 = bloom.weight "h.2.input_layernorm.bias" : tensor<4xf32> loc("h.2.input_layernorm.bias")
    %s1, %n2 = bloom.add_layer_norm %u1, %s0, %g2, %b2 {epsilon = 1.0e-5 : f32} : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) loc(fused["h.1.output", "h.2.attn_norm"])
    %w2 = bloom.weight "h.2.mlp.weight" : tensor<4x4xf32> loc("h.2.mlp.weight")
    %u2 = bloom.linear %n2, %w2 : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32> loc("h.2.mlp")
    %gf = bloom.weight "ln_f.weight" : tensor<4xf32> loc("ln_f.weight")
    %bf = bloom.weight "ln_f.bias" : tensor<4xf32> loc("ln_f.bias")
    %s2, %nf = bloom.add_layer_norm %u2, %s1, %gf, %bf {epsilon = 1.0e-5 : f32} : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) loc(fused["h.2.output", "ln_f"])
    %r = bloom.gather_rows %nf, %rows : (tensor<?x4xf32>, tensor<?xi32>) -> tensor<?x4xf32> loc("logit_hidden")
    %l = bloom.lm_head %r, %table : (tensor<?x4xf32>, tensor<8x4xf32>) -> tensor<?x8xf32> loc("logits")
    return %l : tensor<?x8xf32> loc("logits")
  }
}
