// Tests of --bloom-partition-tp on a hand-written fused graph (one layer, 6
// heads of head_dim 2, hidden 12, vocab 24, tied LM head), rank by rank, and
// on the BLOOM-176B preset through bloom-compile --emit=partition.
//
// 6 heads' ALiBi slopes (transformers' build_alibi_tensor): the closest power
// of two is 4, base 2^(-8/4) = 1/4: 1/4, 1/16, 1/64, 1/256; the 2 extra heads
// take the odd powers of 2^(-8/8) = 1/2: 1/2, 1/8. So the global slopes are
// [0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125], and rank r of N gets
// heads [6r/N, 6(r+1)/N).
//
// RUN: bloom-opt --split-input-file --bloom-partition-tp="tp=2 rank=0" %s --mlir-print-debuginfo --mlir-print-local-scope | FileCheck %s --check-prefix=TP2R0
// RUN: bloom-opt --split-input-file --bloom-partition-tp="tp=2 rank=1" %s --mlir-print-debuginfo --mlir-print-local-scope | FileCheck %s --check-prefix=TP2R1
// RUN: bloom-opt --split-input-file --bloom-partition-tp="tp=3 rank=0" %s | FileCheck %s --check-prefix=TP3R0
// RUN: bloom-opt --split-input-file --bloom-partition-tp="tp=3 rank=1" %s | FileCheck %s --check-prefix=TP3R1
// RUN: bloom-opt --split-input-file --bloom-partition-tp="tp=3 rank=2" %s | FileCheck %s --check-prefix=TP3R2
// RUN: bloom-opt --split-input-file --bloom-partition-tp="tp=1" %s | FileCheck %s --check-prefix=TP1
// RUN: bloom-opt --split-input-file --bloom-partition-tp="tp=2 rank=1" --bloom-assign-precision=policy=fp16 %s | FileCheck %s --check-prefix=FP16
// RUN: bloom-opt --split-input-file --bloom-partition-tp="tp=3 rank=1" --bloom-assign-precision=policy=bf16 --bloom-plan-memory --bloom-lower-to-plan %s | FileCheck %s --check-prefix=PLAN

// BLOOM-176B (112 heads of 128, hidden 14336, vocab 250880 = 2^9 * 490, 70
// layers) at tp = 1, 2, 4 and 8, from its preset (shapes only). Every tp
// has the same collectives: one all-reduce for the embedding and two per
// layer (attention dense, 4h->h): 1 + 2 * 70 = 141, and one all-gather of
// the logits; tp=1 has none.
// RUN: bloom-compile --model=%bloom_src_root/models/bloom/presets/bloom-176b.json --shapes-only --emit=partition > %t.tp1
// RUN: bloom-compile --model=%bloom_src_root/models/bloom/presets/bloom-176b.json --shapes-only --tp=2 --tp-rank=1 --emit=partition > %t.tp2
// RUN: bloom-compile --model=%bloom_src_root/models/bloom/presets/bloom-176b.json --shapes-only --tp=4 --tp-rank=2 --emit=partition > %t.tp4
// RUN: bloom-compile --model=%bloom_src_root/models/bloom/presets/bloom-176b.json --shapes-only --tp=8 --emit=partition > %t.tp8r0
// RUN: bloom-compile --model=%bloom_src_root/models/bloom/presets/bloom-176b.json --shapes-only --tp=8 --tp-rank=7 --emit=partition > %t.tp8r7
// RUN: not grep -E "bloom.all_(reduce|gather)" %t.tp1
// RUN: grep -c bloom.all_reduce %t.tp2 | FileCheck %s --check-prefix=REDUCES
// RUN: grep -c bloom.all_reduce %t.tp4 | FileCheck %s --check-prefix=REDUCES
// RUN: grep -c bloom.all_reduce %t.tp8r7 | FileCheck %s --check-prefix=REDUCES
// RUN: grep -c bloom.all_gather %t.tp8r7 | FileCheck %s --check-prefix=GATHERS
// REDUCES: 141
// GATHERS: 1
// RUN: FileCheck %s --check-prefix=B176-TP1 < %t.tp1
// RUN: FileCheck %s --check-prefix=B176-TP2 < %t.tp2
// RUN: FileCheck %s --check-prefix=B176-TP4 < %t.tp4
// RUN: FileCheck %s --check-prefix=B176-TP8R0 < %t.tp8r0
// RUN: FileCheck %s --check-prefix=B176-TP8R7 < %t.tp8r7
//
// B176-TP1: bloom.alibi_attention {{.+}}num_heads = 112 : i64{{.+}} -> tensor<?x14336xf32>
// B176-TP1: bloom.lm_head {{.+}} -> tensor<?x250880xf32>
//
// tp=2, rank 1: 56 heads (QKV rows [3*56*128, 2*3*56*128) = [21504, 43008)),
// context 7168 columns, vocab rows [125440, 250880), h->4h rows
// [28672, 57344).
// B176-TP2: bloom.tp_rank = 1 : i64, bloom.tp_size = 2 : i64
// B176-TP2: bloom.weight "word_embeddings.weight" slice(dim = 0, begin = 125440, end = 250880) : tensor<125440x14336xf32>
// B176-TP2: bloom.weight "h.0.self_attention.query_key_value.weight" slice(dim = 0, begin = 21504, end = 43008) : tensor<21504x14336xf32>
// B176-TP2: bloom.alibi_attention {{.+}}num_heads = 56 : i64{{.+}} -> tensor<?x7168xf32>
// B176-TP2: bloom.weight "h.0.self_attention.dense.weight" slice(dim = 1, begin = 7168, end = 14336) : tensor<14336x7168xf32>
// B176-TP2: bloom.weight "h.0.mlp.dense_h_to_4h.weight" slice(dim = 0, begin = 28672, end = 57344) : tensor<28672x14336xf32>
// B176-TP2: bloom.all_gather {{.+}} {num_ranks = 2 : i64} : tensor<?x125440xf32> -> tensor<?x250880xf32>
//
// tp=4, rank 2: heads 56..83, which straddle ALiBi's two slope families
// (112 heads: the first 64 take 2^(-k/8), k = 1..64; head 64 + j takes
// 2^(-(2j+1)/16)): heads 56..63 are k = 57..64, from 2^(-57/8) =
// 0.00716409... to 2^-8 (0.0039062514 as build_alibi_tensor's float
// arithmetic rounds it), then heads 64..83 are j = 0..19, from 2^(-1/16) =
// 0.95760328... to 2^(-39/16) = 0.18460326...
// B176-TP4: bloom.weight "h.0.self_attention.query_key_value.weight" slice(dim = 0, begin = 21504, end = 32256) : tensor<10752x14336xf32>
// B176-TP4: bloom.alibi_attention {{.+}} {alibi_slopes = array<f32: 0.00716409645, {{([^,]+, )+}}0.0039062514, 0.957603275, {{([^,]+, )+}}0.184603229>, head_dim = 128 : i64, layer = 0 : i64, num_heads = 28 : i64}
//
// tp=8: 14 heads per rank (QKV rows of 3*14*128 = 5376, context 1792
// columns), vocab rows of 31360, h->4h rows of 7168; rank 0 adds the
// row-parallel biases, rank 7 does not.
// B176-TP8R0: bloom.weight "word_embeddings.weight" slice(dim = 0, begin = 0, end = 31360) : tensor<31360x14336xf32>
// B176-TP8R0: bloom.embedding {{.+}} {vocab_begin = 0 : i64, vocab_size = 250880 : i64}
// B176-TP8R0: bloom.weight "h.0.self_attention.query_key_value.weight" slice(dim = 0, begin = 0, end = 5376) : tensor<5376x14336xf32>
// B176-TP8R0: bloom.alibi_attention {{.+}}num_heads = 14 : i64{{.+}} -> tensor<?x1792xf32>
// B176-TP8R0: bloom.weight "h.0.self_attention.dense.bias" : tensor<14336xf32>
// B176-TP8R0: bloom.linear {{.+}} : (tensor<?x1792xf32>, tensor<14336x1792xf32>, tensor<14336xf32>) -> tensor<?x14336xf32> loc("h.0.attn_dense.partial")
// B176-TP8R0: bloom.linear {{.+}} : (tensor<?x7168xf32>, tensor<14336x7168xf32>, tensor<14336xf32>) -> tensor<?x14336xf32> loc("h.0.mlp_4h_to_h.partial")
//
// Rank 7: heads 98..111, all of the second family, j = 34..47: 2^(-69/16) =
// 0.05032782... to 2^(-95/16) = 0.01631677...
// B176-TP8R7: bloom.weight "word_embeddings.weight" slice(dim = 0, begin = 219520, end = 250880) : tensor<31360x14336xf32>
// B176-TP8R7: bloom.embedding {{.+}} {vocab_begin = 219520 : i64, vocab_size = 250880 : i64}
// B176-TP8R7: bloom.weight "h.0.self_attention.query_key_value.weight" slice(dim = 0, begin = 37632, end = 43008) : tensor<5376x14336xf32>
// B176-TP8R7: bloom.alibi_attention {{.+}} {alibi_slopes = array<f32: 0.0503278039, {{([^,]+, )+}}0.0163167696>, head_dim = 128 : i64, layer = 0 : i64, num_heads = 14 : i64}
// B176-TP8R7: bloom.weight "h.0.self_attention.dense.weight" slice(dim = 1, begin = 12544, end = 14336) : tensor<14336x1792xf32>
// B176-TP8R7-NOT: "h.0.self_attention.dense.bias"
// B176-TP8R7: bloom.linear {{.+}} : (tensor<?x1792xf32>, tensor<14336x1792xf32>) -> tensor<?x14336xf32> loc("h.0.attn_dense.partial")
// B176-TP8R7: bloom.weight "h.0.mlp.dense_4h_to_h.weight" slice(dim = 1, begin = 50176, end = 57344) : tensor<14336x7168xf32>
// B176-TP8R7-NOT: "h.0.mlp.dense_4h_to_h.bias"
// B176-TP8R7: bloom.linear {{.+}} : (tensor<?x7168xf32>, tensor<14336x7168xf32>) -> tensor<?x14336xf32> loc("h.0.mlp_4h_to_h.partial")
// B176-TP8R7: bloom.lm_head {{.+}} : (tensor<?x14336xf32>, tensor<31360x14336xf32>) -> tensor<?x31360xf32>
// B176-TP8R7: bloom.all_gather {{.+}} {num_ranks = 8 : i64} : tensor<?x31360xf32> -> tensor<?x250880xf32>

// Tests that tp=1 changes nothing but the module's record of the group.
// TP1: module attributes {bloom.tp_rank = 0 : i64, bloom.tp_size = 1 : i64}
// TP1: bloom.weight "word_embeddings.weight" : tensor<24x12xf32>
// TP1: bloom.alibi_attention {{.+}}num_heads = 6 : i64{{.+}} -> tensor<?x12xf32>
// TP1-NOT: slice
// TP1-NOT: bloom.all_reduce
// TP1-NOT: bloom.all_gather

// Tests the vocab-parallel embedding (rows [12r, 12r + 12) of 24, ids of
// other ranks give zero rows, summed by an all-reduce that takes the
// embedding's name), the column-parallel attention (rank 0: heads 0..2, QKV
// rows [0, 18), slopes 1/4, 1/16, 1/64; rank 1: heads 3..5, rows [18, 36),
// slopes 1/256, 1/2, 1/8), the row-parallel dense with its bias on rank 0
// only, the column-parallel h->4h (rows [24r, 24r + 24)), the row-parallel
// 4h->h, and the vocab-parallel tied LM head (the same sliced table) with an
// all-gather into the full 24 logits.
// TP2R0: module attributes {bloom.tp_rank = 0 : i64, bloom.tp_size = 2 : i64}
// TP2R0: %[[TABLE:.+]] = bloom.weight "word_embeddings.weight" slice(dim = 0, begin = 0, end = 12) : tensor<12x12xf32>
// TP2R0: %[[EP:.+]] = bloom.embedding %{{.+}}, %[[TABLE]] {vocab_begin = 0 : i64, vocab_size = 24 : i64} : (tensor<?xi32>, tensor<12x12xf32>) -> tensor<?x12xf32> loc("embeddings.partial")
// TP2R0: %[[E:.+]] = bloom.all_reduce %[[EP]] : tensor<?x12xf32> loc("embeddings")
// TP2R0: bloom.layer_norm %[[E]],
// TP2R0: %[[WQKV:.+]] = bloom.weight "h.0.self_attention.query_key_value.weight" slice(dim = 0, begin = 0, end = 18) : tensor<18x12xf32>
// TP2R0: %[[BQKV:.+]] = bloom.weight "h.0.self_attention.query_key_value.bias" slice(dim = 0, begin = 0, end = 18) : tensor<18xf32>
// TP2R0: %[[CTX:.+]] = bloom.alibi_attention %{{.+}}, %[[WQKV]] bias %[[BQKV]], {{.+}} {alibi_slopes = array<f32: 2.500000e-01, 6.250000e-02, 1.562500e-02>, head_dim = 2 : i64, layer = 0 : i64, num_heads = 3 : i64} : {{.+}} -> tensor<?x6xf32>
// TP2R0: %[[WD:.+]] = bloom.weight "h.0.self_attention.dense.weight" slice(dim = 1, begin = 0, end = 6) : tensor<12x6xf32>
// TP2R0: %[[BD:.+]] = bloom.weight "h.0.self_attention.dense.bias" : tensor<12xf32>
// TP2R0: %[[DP:.+]] = bloom.linear %[[CTX]], %[[WD]], %[[BD]] : (tensor<?x6xf32>, tensor<12x6xf32>, tensor<12xf32>) -> tensor<?x12xf32> loc("h.0.attn_dense.partial")
// TP2R0: %[[D:.+]] = bloom.all_reduce %[[DP]] : tensor<?x12xf32> loc("h.0.attn_dense")
// TP2R0: bloom.add_layer_norm %[[D]], %[[E]],
// TP2R0: bloom.weight "h.0.mlp.dense_h_to_4h.weight" slice(dim = 0, begin = 0, end = 24) : tensor<24x12xf32>
// TP2R0: bloom.weight "h.0.mlp.dense_h_to_4h.bias" slice(dim = 0, begin = 0, end = 24) : tensor<24xf32>
// TP2R0: %[[U:.+]] = bloom.linear {{.+}} epilogue gelu : (tensor<?x12xf32>, tensor<24x12xf32>, tensor<24xf32>) -> tensor<?x24xf32>
// TP2R0: %[[W2:.+]] = bloom.weight "h.0.mlp.dense_4h_to_h.weight" slice(dim = 1, begin = 0, end = 24) : tensor<12x24xf32>
// TP2R0: %[[B2:.+]] = bloom.weight "h.0.mlp.dense_4h_to_h.bias" : tensor<12xf32>
// TP2R0: %[[OP:.+]] = bloom.linear %[[U]], %[[W2]], %[[B2]] : (tensor<?x24xf32>, tensor<12x24xf32>, tensor<12xf32>) -> tensor<?x12xf32> loc("h.0.mlp_4h_to_h.partial")
// TP2R0: %[[O:.+]] = bloom.all_reduce %[[OP]] : tensor<?x12xf32> loc("h.0.mlp_4h_to_h")
// TP2R0: bloom.add %[[O]],
// TP2R0: %[[LOCAL:.+]] = bloom.lm_head %{{.+}}, %[[TABLE]] : (tensor<?x12xf32>, tensor<12x12xf32>) -> tensor<?x12xf32> loc("logits.shard")
// TP2R0: %[[LOGITS:.+]] = bloom.all_gather %[[LOCAL]] {num_ranks = 2 : i64} : tensor<?x12xf32> -> tensor<?x24xf32> loc("logits")
// TP2R0: return %[[LOGITS]] : tensor<?x24xf32>
//
// TP2R1: module attributes {bloom.tp_rank = 1 : i64, bloom.tp_size = 2 : i64}
// TP2R1: %[[TABLE:.+]] = bloom.weight "word_embeddings.weight" slice(dim = 0, begin = 12, end = 24) : tensor<12x12xf32>
// TP2R1: bloom.embedding %{{.+}}, %[[TABLE]] {vocab_begin = 12 : i64, vocab_size = 24 : i64}
// TP2R1: bloom.weight "h.0.self_attention.query_key_value.weight" slice(dim = 0, begin = 18, end = 36) : tensor<18x12xf32>
// TP2R1: bloom.alibi_attention {{.+}} {alibi_slopes = array<f32: 3.906250e-03, 5.000000e-01, 1.250000e-01>, head_dim = 2 : i64, layer = 0 : i64, num_heads = 3 : i64}
// TP2R1: bloom.weight "h.0.self_attention.dense.weight" slice(dim = 1, begin = 6, end = 12) : tensor<12x6xf32>
// TP2R1-NOT: "h.0.self_attention.dense.bias"
// TP2R1: bloom.linear %{{[^,]+}}, %{{[^,]+}} : (tensor<?x6xf32>, tensor<12x6xf32>) -> tensor<?x12xf32> loc("h.0.attn_dense.partial")
// TP2R1: bloom.all_reduce
// TP2R1: bloom.weight "h.0.mlp.dense_h_to_4h.weight" slice(dim = 0, begin = 24, end = 48) : tensor<24x12xf32>
// TP2R1: bloom.weight "h.0.mlp.dense_4h_to_h.weight" slice(dim = 1, begin = 24, end = 48) : tensor<12x24xf32>
// TP2R1-NOT: "h.0.mlp.dense_4h_to_h.bias"
// TP2R1: bloom.linear %{{[^,]+}}, %{{[^,]+}} : (tensor<?x24xf32>, tensor<12x24xf32>) -> tensor<?x12xf32> loc("h.0.mlp_4h_to_h.partial")
// TP2R1: bloom.all_reduce
// TP2R1: bloom.lm_head %{{.+}}, %[[TABLE]] : (tensor<?x12xf32>, tensor<12x12xf32>) -> tensor<?x12xf32>
// TP2R1: bloom.all_gather %{{.+}} {num_ranks = 2 : i64} : tensor<?x12xf32> -> tensor<?x24xf32>
//
// Tests tp=3: 2 heads per rank, vocab rows of 8, h->4h rows of 16.
// TP3R0: bloom.weight "word_embeddings.weight" slice(dim = 0, begin = 0, end = 8) : tensor<8x12xf32>
// TP3R0: bloom.weight "h.0.self_attention.query_key_value.weight" slice(dim = 0, begin = 0, end = 12) : tensor<12x12xf32>
// TP3R0: alibi_slopes = array<f32: 2.500000e-01, 6.250000e-02>, {{.+}} num_heads = 2 : i64
// TP3R0: bloom.weight "h.0.self_attention.dense.weight" slice(dim = 1, begin = 0, end = 4) : tensor<12x4xf32>
// TP3R0: bloom.weight "h.0.self_attention.dense.bias" : tensor<12xf32>
// TP3R0: bloom.all_gather %{{.+}} {num_ranks = 3 : i64} : tensor<?x8xf32> -> tensor<?x24xf32>
// TP3R1: bloom.weight "word_embeddings.weight" slice(dim = 0, begin = 8, end = 16) : tensor<8x12xf32>
// TP3R1: {vocab_begin = 8 : i64, vocab_size = 24 : i64}
// TP3R1: bloom.weight "h.0.self_attention.query_key_value.weight" slice(dim = 0, begin = 12, end = 24) : tensor<12x12xf32>
// TP3R1: alibi_slopes = array<f32: 1.562500e-02, 3.906250e-03>, {{.+}} num_heads = 2 : i64
// TP3R1: bloom.weight "h.0.mlp.dense_h_to_4h.weight" slice(dim = 0, begin = 16, end = 32) : tensor<16x12xf32>
// TP3R1: bloom.weight "h.0.mlp.dense_4h_to_h.weight" slice(dim = 1, begin = 16, end = 32) : tensor<12x16xf32>
// TP3R2: bloom.weight "word_embeddings.weight" slice(dim = 0, begin = 16, end = 24) : tensor<8x12xf32>
// TP3R2: bloom.weight "h.0.self_attention.query_key_value.weight" slice(dim = 0, begin = 24, end = 36) : tensor<12x12xf32>
// TP3R2: alibi_slopes = array<f32: 5.000000e-01, 1.250000e-01>, {{.+}} num_heads = 2 : i64
// TP3R2: bloom.weight "h.0.self_attention.dense.weight" slice(dim = 1, begin = 8, end = 12) : tensor<12x4xf32>
// TP3R2-NOT: "h.0.self_attention.dense.bias"
// TP3R2: bloom.weight "h.0.mlp.dense_4h_to_h.weight" slice(dim = 1, begin = 32, end = 48) : tensor<12x16xf32>
// TP3R2-NOT: "h.0.mlp.dense_4h_to_h.bias"
// TP3R2: bloom.all_gather
//
// Tests that precision assignment keeps fp16's residual stream in f32
// through the all-reduce: the row-parallel partial sums and their
// all-reduce are stored in f32 since they are added into the stream (so is
// the embedding here, which this graph adds as a residual), the context in
// f16, and the collectives sum in f32.
// FP16: bloom.embedding {{.+}} : (tensor<?xi32>, tensor<12x12xf16>) -> tensor<?x12xf32>
// FP16: bloom.all_reduce %{{.+}} {precision = #bloom.precision<compute = f32, accumulate = f32>} : tensor<?x12xf32>
// FP16: bloom.alibi_attention {{.+}} -> tensor<?x6xf16>
// FP16: bloom.linear {{.+}} : (tensor<?x6xf16>, tensor<12x6xf16>) -> tensor<?x12xf32>
// FP16: bloom.all_reduce %{{.+}} {precision = #bloom.precision<compute = f32, accumulate = f32>} : tensor<?x12xf32>
// FP16: bloom.linear {{.+}} : (tensor<?x24xf16>, tensor<12x24xf16>) -> tensor<?x12xf32>
// FP16: bloom.all_reduce %{{.+}} : tensor<?x12xf32>
// FP16: bloom.lm_head {{.+}} -> tensor<?x12xf32>
// FP16: bloom.all_gather %{{.+}} {num_ranks = 2 : i64, precision = #bloom.precision<compute = f32, accumulate = f32>} : tensor<?x12xf32> -> tensor<?x24xf32>
// FP16-NOT: bloom.cast
//
// Tests the lowering of rank 1 of 3: the program says which rank it is,
// weights keep their slices, the embedding its vocabulary range, and the
// collectives become plan.all_reduce / plan.all_gather kernels; the KV cache
// holds this rank's 2 heads.
// PLAN: plan.program {{.+}} kv_cache(layers = 1, heads = 2, head_dim = 2, {{.+}} tensor_parallel(rank = 1, size = 3)
// PLAN: plan.weight "word_embeddings.weight" slice(dim = 0, begin = 8, end = 16) : memref<8x12xbf16>
// PLAN: plan.embedding_gather {{.+}} {accumulate = f32, compute = bf16, vocab_begin = 8 : i64, vocab_size = 24 : i64}
// PLAN: plan.all_reduce ins(%{{.+}} : memref<?x12xbf16>) outs(%{{.+}} : memref<?x12xbf16>) {accumulate = f32, compute = f32}
// PLAN: plan.alibi_attention {{.+}}num_heads = 2 : i64
// PLAN: plan.all_reduce
// PLAN: plan.all_reduce
// PLAN: plan.linear ins(%{{.+}}, %{{.+}} : memref<?x12xbf16>, memref<8x12xbf16>) outs(%{{.+}} : memref<?x8xf32>)
// PLAN: %[[FULL:.+]] = plan.buffer "logits" logit_rows at {{[0-9]+}} role logits : memref<?x24xf32>
// PLAN: plan.all_gather ins(%{{.+}} : memref<?x8xf32>) outs(%[[FULL]] : memref<?x24xf32>)

module {
  func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x24xf32> {
    %table = bloom.weight "word_embeddings.weight" : tensor<24x12xf32> loc("word_embeddings.weight")
    %e = bloom.embedding %ids, %table : (tensor<?xi32>, tensor<24x12xf32>) -> tensor<?x12xf32> loc("embeddings")
    %g = bloom.weight "norm.weight" : tensor<12xf32> loc("norm.weight")
    %b = bloom.weight "norm.bias" : tensor<12xf32> loc("norm.bias")
    %n = bloom.layer_norm %e, %g, %b {epsilon = 1.0e-5 : f32} : (tensor<?x12xf32>, tensor<12xf32>, tensor<12xf32>) -> tensor<?x12xf32> loc("h.0.attn_norm")
    %wqkv = bloom.weight "h.0.self_attention.query_key_value.weight" : tensor<36x12xf32> loc("h.0.self_attention.query_key_value.weight")
    %bqkv = bloom.weight "h.0.self_attention.query_key_value.bias" : tensor<36xf32> loc("h.0.self_attention.query_key_value.bias")
    %ctx = bloom.alibi_attention %n, %wqkv bias %bqkv, %pos, %slots {layer = 0 : i64, num_heads = 6 : i64, head_dim = 2 : i64, alibi_slopes = array<f32: 0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125>} : (tensor<?x12xf32>, tensor<36x12xf32>, tensor<36xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x12xf32> loc(fused["h.0.attn_context", "h.0.qkv"])
    %wd = bloom.weight "h.0.self_attention.dense.weight" : tensor<12x12xf32> loc("h.0.self_attention.dense.weight")
    %bd = bloom.weight "h.0.self_attention.dense.bias" : tensor<12xf32> loc("h.0.self_attention.dense.bias")
    %d = bloom.linear %ctx, %wd, %bd : (tensor<?x12xf32>, tensor<12x12xf32>, tensor<12xf32>) -> tensor<?x12xf32> loc("h.0.attn_dense")
    %sum, %normed = bloom.add_layer_norm %d, %e, %g, %b {epsilon = 1.0e-5 : f32} : (tensor<?x12xf32>, tensor<?x12xf32>, tensor<12xf32>, tensor<12xf32>) -> (tensor<?x12xf32>, tensor<?x12xf32>) loc(fused["h.0.attn_residual", "h.0.mlp_norm"])
    %w1 = bloom.weight "h.0.mlp.dense_h_to_4h.weight" : tensor<48x12xf32> loc("h.0.mlp.dense_h_to_4h.weight")
    %b1 = bloom.weight "h.0.mlp.dense_h_to_4h.bias" : tensor<48xf32> loc("h.0.mlp.dense_h_to_4h.bias")
    %u = bloom.linear %normed, %w1, %b1 epilogue gelu : (tensor<?x12xf32>, tensor<48x12xf32>, tensor<48xf32>) -> tensor<?x48xf32> loc(fused["h.0.mlp_gelu", "h.0.mlp_h_to_4h"])
    %w2 = bloom.weight "h.0.mlp.dense_4h_to_h.weight" : tensor<12x48xf32> loc("h.0.mlp.dense_4h_to_h.weight")
    %b2 = bloom.weight "h.0.mlp.dense_4h_to_h.bias" : tensor<12xf32> loc("h.0.mlp.dense_4h_to_h.bias")
    %o = bloom.linear %u, %w2, %b2 : (tensor<?x48xf32>, tensor<12x48xf32>, tensor<12xf32>) -> tensor<?x12xf32> loc("h.0.mlp_4h_to_h")
    %s2 = bloom.add %o, %sum : tensor<?x12xf32> loc("h.0.output")
    %r = bloom.gather_rows %s2, %rows : (tensor<?x12xf32>, tensor<?xi32>) -> tensor<?x12xf32> loc("logit_hidden")
    %l = bloom.lm_head %r, %table : (tensor<?x12xf32>, tensor<24x12xf32>) -> tensor<?x24xf32> loc("logits")
    return %l : tensor<?x24xf32> loc("logits")
  }
}

// -----

// Tests that an MLP whose gelu was not fused into its linear stays whole on
// every rank (correct, just not parallel: the pass splits only Megatron's
// patterns), while the embedding and LM head are still vocab-parallel.
// TP2R0: bloom.weight "up.weight" : tensor<48x12xf32>
// TP2R0-NEXT: bloom.linear %{{.+}}, %{{.+}} : (tensor<?x12xf32>, tensor<48x12xf32>) -> tensor<?x48xf32>
// TP2R0-NEXT: bloom.gelu %{{.+}} : tensor<?x48xf32>
// TP2R0-NEXT: bloom.weight "down.weight" : tensor<12x48xf32>
// TP2R0-NEXT: bloom.linear %{{.+}}, %{{.+}} : (tensor<?x48xf32>, tensor<12x48xf32>) -> tensor<?x12xf32>
// TP2R0-NEXT: bloom.add
// TP2R0: bloom.all_gather %{{.+}} {num_ranks = 2 : i64} : tensor<?x12xf32> -> tensor<?x24xf32>
func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x24xf32> {
  %table = bloom.weight "word_embeddings.weight" : tensor<24x12xf32>
  %e = bloom.embedding %ids, %table : (tensor<?xi32>, tensor<24x12xf32>) -> tensor<?x12xf32>
  %w1 = bloom.weight "up.weight" : tensor<48x12xf32>
  %u = bloom.linear %e, %w1 : (tensor<?x12xf32>, tensor<48x12xf32>) -> tensor<?x48xf32>
  %a = bloom.gelu %u : tensor<?x48xf32>
  %w2 = bloom.weight "down.weight" : tensor<12x48xf32>
  %o = bloom.linear %a, %w2 : (tensor<?x48xf32>, tensor<12x48xf32>) -> tensor<?x12xf32>
  %s = bloom.add %o, %e : tensor<?x12xf32>
  %r = bloom.gather_rows %s, %rows : (tensor<?x12xf32>, tensor<?xi32>) -> tensor<?x12xf32>
  %l = bloom.lm_head %r, %table : (tensor<?x12xf32>, tensor<24x12xf32>) -> tensor<?x24xf32>
  return %l : tensor<?x24xf32>
}
