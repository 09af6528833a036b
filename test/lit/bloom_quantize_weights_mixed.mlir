// RUN: bloom-opt --bloom-quantize-weights="weights=int4 group-size=4 quantize-lm-head=true lm-head-weights=int8" --bloom-assign-precision=policy=bf16 --bloom-plan-memory="max-batch-tokens=4 max-seq-len=40 max-sequences=3" %s | FileCheck %s --check-prefix=MIX
// RUN: bloom-opt --bloom-quantize-weights="weights=int4 group-size=4 quantize-lm-head=true lm-head-weights=int8" --bloom-assign-precision=policy=bf16 --bloom-plan-memory="max-batch-tokens=4 max-seq-len=40 max-sequences=3" --bloom-lower-to-plan %s | FileCheck %s --check-prefix=PLAN
// RUN: bloom-opt --bloom-quantize-weights="weights=int8 group-size=4 quantize-lm-head=true lm-head-weights=int4" --bloom-assign-precision=policy=bf16 --bloom-plan-memory="max-batch-tokens=4 max-seq-len=40 max-sequences=3" --bloom-lower-to-plan %s | FileCheck %s --check-prefix=REV
// RUN: bloom-opt --bloom-quantize-weights="weights=int4 group-size=4 quantize-lm-head=true lm-head-weights=int4" %s | FileCheck %s --check-prefix=SAME

// Tests lm-head-weights: the LM head (here the tied table [16, 8], which
// the embedding reads too) stored in a format of its own beside the
// blocks' QKV weight [24, 8] (hidden 8, vocab 16, group size 4).
//
// int4 blocks, int8 head. Bytes by hand (bf16 policy):
//   int8: the table's values 16 x 8                         = 128
//   int4: the QKV's values 24 x 8 / 2                       = 96
//   scales: table 16 x 1 x 2 + QKV 24 x (8 / 4) x 2 = 32 + 96 = 128
//   zero points: QKV only, 24 x 2                           = 48
//   bf16: layer norm 8 + 8, QKV bias 24: 40 x 2             = 80
//   weights: 480
// MIX: bloom.bytes_by_format = {bf16 = 80 : i64, int4 = 96 : i64, int8 = 128 : i64, scales = 128 : i64, zero_points = 48 : i64}
// MIX-SAME: weights_bytes = 480 : i64
// MIX-SAME: bloom.quantization = {group_size = 4 : i64, lm_head = true, lm_head_group_size = 0 : i64, lm_head_weights = "int8", weights = "int4"}
// The table: i8 values and one scale a row, no zero points; one
// dequantize (per channel: group_size 0) feeds the embedding and the head.
// MIX: %[[TQ:.+]] = bloom.weight "word_embeddings.weight" {{.*}} : tensor<16x8xi8>
// MIX-NEXT: %[[TS:.+]] = bloom.weight "word_embeddings.weight.scales" : tensor<16x1xf16>
// MIX-NEXT: %[[T:.+]] = bloom.dequantize %[[TQ]], %[[TS]] {group_size = 0 : i64
// MIX-NEXT: bloom.embedding %{{.+}}, %[[T]]
// MIX: %[[WQ:.+]] = bloom.weight "h.0.self_attention.query_key_value.weight" {{.*}} : tensor<24x8xi4>
// MIX-NEXT: %[[WS:.+]] = bloom.weight "h.0.self_attention.query_key_value.weight.scales" : tensor<24x2xf16>
// MIX-NEXT: %[[WZ:.+]] = bloom.weight "h.0.self_attention.query_key_value.weight.zero_points" : tensor<24x2xi8>
// MIX-NEXT: bloom.dequantize %[[WQ]], %[[WS]] zero_points %[[WZ]] {group_size = 4 : i64
// MIX: bloom.lm_head %{{.+}}, %[[T]]
//
// Lowered, each weight's plan tensors carry their own format and group
// (int8: the group is the row, 8), and each kernel takes its weight's two
// or three parts.
// PLAN: %[[IDS:.+]] = plan.input "token_ids"
// PLAN: %[[TQ:.+]] = plan.weight "word_embeddings.weight" from "model.safetensors" ["word_embeddings.weight"] bf16 quantize(int8, group = 8, values) : memref<16x8xi8>
// PLAN-NEXT: %[[TS:.+]] = plan.weight "word_embeddings.weight.scales" from "model.safetensors" ["word_embeddings.weight"] bf16 quantize(int8, group = 8, scales) : memref<16x1xf16>
// PLAN: plan.embedding_gather ins(%[[IDS]], %[[TQ]], %[[TS]] : memref<?xi32>, memref<16x8xi8>, memref<16x1xf16>)
// PLAN: %[[WQ:.+]] = plan.weight "h.0.self_attention.query_key_value.weight" {{.*}} quantize(int4, group = 4, values) : memref<24x8xi4>
// PLAN-NEXT: %[[WS:.+]] = plan.weight "h.0.self_attention.query_key_value.weight.scales" {{.*}} quantize(int4, group = 4, scales) : memref<24x2xf16>
// PLAN-NEXT: %[[WZ:.+]] = plan.weight "h.0.self_attention.query_key_value.weight.zero_points" {{.*}} quantize(int4, group = 4, zero_points) : memref<24x2xi8>
// PLAN: plan.linear ins(%{{.+}}, %[[WQ]], %[[WS]], %[[WZ]], %{{.+}} : memref<?x8xbf16>, memref<24x8xi4>, memref<24x2xf16>, memref<24x2xi8>, memref<24xbf16>)
// PLAN: plan.linear ins(%{{.+}}, %[[TQ]], %[[TS]] : memref<?x8xbf16>, memref<16x8xi8>, memref<16x1xf16>) outs(%{{.+}} : memref<?x16xf32>)
//
// The other way round, int8 blocks and an int4 head (allowed: each weight
// has its own format; the group size is then the head's):
//   int4: table 16 x 8 / 2 = 64; int8: QKV 24 x 8 = 192;
//   scales: table 16 x 2 x 2 + QKV 24 x 1 x 2 = 64 + 48 = 112;
//   zero points: table 16 x 2 = 32; bf16 80; weights 480.
// REV: bloom.bytes_by_format = {bf16 = 80 : i64, int4 = 64 : i64, int8 = 192 : i64, scales = 112 : i64, zero_points = 32 : i64}
// REV-SAME: bloom.quantization = {group_size = 0 : i64, lm_head = true, lm_head_group_size = 4 : i64, lm_head_weights = "int4", weights = "int8"}
// REV: %[[TQ:.+]] = plan.weight "word_embeddings.weight" {{.*}} quantize(int4, group = 4, values) : memref<16x8xi4>
// REV: plan.embedding_gather ins(%{{.+}}, %[[TQ]], %{{.+}}, %{{.+}} : memref<?xi32>, memref<16x8xi4>, memref<16x2xf16>, memref<16x2xi8>)
// REV: %[[WQ:.+]] = plan.weight "h.0.self_attention.query_key_value.weight" {{.*}} quantize(int8, group = 8, values) : memref<24x8xi8>
// REV: plan.linear ins(%{{.+}}, %[[WQ]], %{{.+}}, %{{.+}} : memref<?x8xbf16>, memref<24x8xi8>, memref<24x1xf16>, memref<24xbf16>)
// REV: plan.linear ins(%{{.+}}, %[[TQ]], %{{.+}}, %{{.+}} : memref<?x8xbf16>, memref<16x8xi4>, memref<16x2xf16>, memref<16x2xi8>)
//
// Naming the blocks' own format is the default spelled out.
// SAME: bloom.quantization = {group_size = 4 : i64, lm_head = true, lm_head_group_size = 4 : i64, lm_head_weights = "int4", weights = "int4"}
// SAME: bloom.weight "word_embeddings.weight" {{.*}} : tensor<16x8xi4>
module attributes {bloom.model_name = "tiny", bloom.checkpoint_dir = "/ckpt", bloom.eos_token_id = 2 : i64} {
  func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x16xf32> {
    %table = bloom.weight "word_embeddings.weight" from "model.safetensors" ["word_embeddings.weight"] bf16 : tensor<16x8xf32>
    %e = bloom.embedding %ids, %table : (tensor<?xi32>, tensor<16x8xf32>) -> tensor<?x8xf32> loc("embeddings")
    %g = bloom.weight "h.0.input_layernorm.weight" from "model.safetensors" ["h.0.input_layernorm.weight"] bf16 : tensor<8xf32>
    %b = bloom.weight "h.0.input_layernorm.bias" from "model.safetensors" ["h.0.input_layernorm.bias"] bf16 : tensor<8xf32>
    %n = bloom.layer_norm %e, %g, %b {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8xf32> loc("h.0.attn_norm")
    %w = bloom.weight "h.0.self_attention.query_key_value.weight" from "model.safetensors" ["h.0.self_attention.query_key_value.weight"] bf16 : tensor<24x8xf32>
    %wb = bloom.weight "h.0.self_attention.query_key_value.bias" from "model.safetensors" ["h.0.self_attention.query_key_value.bias"] bf16 : tensor<24xf32>
    %ctx = bloom.alibi_attention %n, %w bias %wb, %pos, %slots {layer = 0 : i64, num_heads = 2 : i64, head_dim = 4 : i64, alibi_slopes = array<f32: 0.25, 0.0625>} : (tensor<?x8xf32>, tensor<24x8xf32>, tensor<24xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x8xf32> loc(fused["h.0.attn_context", "h.0.qkv"])
    %pick = bloom.gather_rows %ctx, %rows : (tensor<?x8xf32>, tensor<?xi32>) -> tensor<?x8xf32> loc("logit_hidden")
    %logits = bloom.lm_head %pick, %table : (tensor<?x8xf32>, tensor<16x8xf32>) -> tensor<?x16xf32> loc("logits")
    return %logits : tensor<?x16xf32>
  }
}
