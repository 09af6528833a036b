// RUN: bloom-compile --model=%S/Inputs/tiny --shapes-only --emit=bloom | FileCheck %s
// RUN: bloom-compile --model=%S/Inputs/tiny_post_ln/config.json --shapes-only --emit=bloom | FileCheck %s --check-prefix=POST

// Tests the graph of a 2-layer, 6-head config (hidden 48, head_dim 8,
// vocab 32): config recorded on the module, the step signature, each block
// as transformers' BloomBlock with the pre-layernorm residuals, and the LM
// head tied to the embedding table.
// CHECK: module attributes {
// CHECK-SAME: bloom.eos_token_id = 2 : i64
// CHECK-SAME: bloom.num_heads = 6 : i64, bloom.num_layers = 2 : i64
// CHECK-SAME: bloom.tied_lm_head = true, bloom.vocab_size = 32 : i64
// CHECK: func.func @step(%[[IDS:.+]]: tensor<?xi32> loc("token_ids"), %[[POS:.+]]: tensor<?xi32> loc("positions"), %[[SLOTS:.+]]: tensor<?xi32> loc("sequence_slots"), %[[ROWS:.+]]: tensor<?xi32> loc("logit_rows")) -> tensor<?x32xf32>
// CHECK: %[[TABLE:.+]] = bloom.weight "word_embeddings.weight" : tensor<32x48xf32>
// CHECK: %[[EMB:.+]] = bloom.embedding %[[IDS]], %[[TABLE]] {{.*}} loc("embeddings")
// CHECK: %[[H0:.+]] = bloom.layer_norm %[[EMB]], {{.*}} {epsilon = 9.99999974E-6 : f32} {{.*}} loc("embeddings_norm")
//
// Block 0. With 6 heads (not a power of two) the slopes are 2^-2, 2^-4,
// 2^-6, 2^-8 for the 4 heads of the closest power of two, then the odd
// powers 0.5^1, 0.5^3 of the next power of two's base (2^-1).
// CHECK: %[[LN1:.+]] = bloom.layer_norm %[[H0]], {{.*}} loc("h.0.attn_norm")
// CHECK: bloom.weight "h.0.self_attention.query_key_value.weight" : tensor<144x48xf32>
// The attention is emitted unfused, one op per step of BloomAttention.
// CHECK: %[[QKV:.+]] = bloom.linear %[[LN1]], {{.*}} -> tensor<?x144xf32> loc("h.0.qkv")
// CHECK: %[[Q:[^,]+]], %[[K:[^,]+]], %[[V:[^ ]+]] = bloom.split_heads %[[QKV]] {head_dim = 8 : i64, num_heads = 6 : i64} : tensor<?x144xf32> -> tensor<?x6x8xf32>, tensor<?x6x8xf32>, tensor<?x6x8xf32> loc(fused["h.0.query", "h.0.key", "h.0.value"])
// CHECK: %[[CACHE:.+]] = bloom.kv_cache_append %[[K]], %[[V]], %[[POS]], %[[SLOTS]] {layer = 0 : i64} {{.*}} -> !bloom.kv_cache<heads = 6, head_dim = 8, f32> loc("h.0.kv_cache")
// scale = 1 / sqrt(8)
// CHECK: %[[S:.+]] = bloom.attention_scores %[[Q]], %[[CACHE]], %[[SLOTS]] {scale = 0.353553385 : f32} {{.*}} -> tensor<?x6x?xf32> loc("h.0.attn_scores")
// CHECK: %[[B:.+]] = bloom.alibi_bias %[[S]] {alibi_slopes = array<f32: 2.500000e-01, 6.250000e-02, 1.562500e-02, 3.906250e-03, 5.000000e-01, 1.250000e-01>} {{.*}} loc("h.0.attn_alibi")
// CHECK: %[[M:.+]] = bloom.causal_mask %[[B]], %[[POS]] {{.*}} loc("h.0.attn_masked")
// CHECK: %[[P:.+]] = bloom.softmax %[[M]] {{.*}} loc("h.0.attn_probs")
// CHECK: %[[H:.+]] = bloom.attention_context %[[P]], %[[CACHE]], %[[SLOTS]] {{.*}} -> tensor<?x6x8xf32> loc("h.0.attn_heads")
// CHECK: %[[CTX:.+]] = bloom.merge_heads %[[H]] : tensor<?x6x8xf32> -> tensor<?x48xf32> loc("h.0.attn_context")
// CHECK: %[[DENSE:.+]] = bloom.linear %[[CTX]], {{.*}} loc("h.0.attn_dense")
// CHECK: %[[ATTN:.+]] = bloom.add %[[DENSE]], %[[H0]] {{.*}} loc("h.0.attn_residual")
// CHECK: %[[LN2:.+]] = bloom.layer_norm %[[ATTN]], {{.*}} loc("h.0.mlp_norm")
// CHECK: %[[UP:.+]] = bloom.linear %[[LN2]], {{.*}} -> tensor<?x192xf32> loc("h.0.mlp_h_to_4h")
// CHECK: %[[ACT:.+]] = bloom.gelu %[[UP]] {{.*}} loc("h.0.mlp_gelu")
// CHECK: %[[DOWN:.+]] = bloom.linear %[[ACT]], {{.*}} -> tensor<?x48xf32> loc("h.0.mlp_4h_to_h")
// CHECK: %[[H1:.+]] = bloom.add %[[DOWN]], %[[ATTN]] {{.*}} loc("h.0.output")
//
// Block 1 reads block 0's output and uses cache layer 1.
// CHECK: bloom.layer_norm %[[H1]], {{.*}} loc("h.1.attn_norm")
// CHECK: bloom.kv_cache_append {{.*}} {layer = 1 : i64} {{.*}} loc("h.1.kv_cache")
// CHECK: %[[H2:.+]] = bloom.add {{.*}} loc("h.1.output")
// CHECK-NOT: "h.2.
// CHECK: %[[FINAL:.+]] = bloom.layer_norm %[[H2]], {{.*}} loc("ln_f")
// CHECK: %[[PICK:.+]] = bloom.gather_rows %[[FINAL]], %[[ROWS]] {{.*}} loc("logit_hidden")
// CHECK-NOT: "lm_head.weight"
// CHECK: %[[LOGITS:.+]] = bloom.lm_head %[[PICK]], %[[TABLE]] : (tensor<?x48xf32>, tensor<32x48xf32>) -> tensor<?x32xf32> loc("logits")
// CHECK: return %[[LOGITS]]

// Tests the apply_residual_connection_post_layernorm variant (and the other
// key spellings): both residuals are taken after the layer norms.
// POST: bloom.apply_residual_connection_post_layernorm = true
// POST: bloom.eos_token_id = 7 : i64
// POST: %[[LN1:.+]] = bloom.layer_norm {{.*}} {epsilon = 1.000000e-03 : f32} {{.*}} loc("h.0.attn_norm")
// POST: %[[DENSE:.+]] = bloom.linear {{.*}} loc("h.0.attn_dense")
// POST: %[[ATTN:.+]] = bloom.add %[[DENSE]], %[[LN1]] {{.*}} loc("h.0.attn_residual")
// POST: %[[LN2:.+]] = bloom.layer_norm %[[ATTN]], {{.*}} loc("h.0.mlp_norm")
// POST: %[[DOWN:.+]] = bloom.linear {{.*}} loc("h.0.mlp_4h_to_h")
// POST: bloom.add %[[DOWN]], %[[LN2]] {{.*}} loc("h.0.output")
