// RUN: bloom-opt --bloom-quantize-weights="weights=int4 group-size=4 quantize-lm-head=true" --bloom-assign-precision=policy=bf16 --bloom-plan-memory="max-batch-tokens=4 max-seq-len=40 max-sequences=3" --bloom-lower-to-plan %s | FileCheck %s --check-prefix=INT4
// RUN: bloom-opt --bloom-quantize-weights=weights=int8 --bloom-assign-precision=policy=bf16 --bloom-plan-memory="max-batch-tokens=4 max-seq-len=40 max-sequences=3" --bloom-lower-to-plan %s | FileCheck %s --check-prefix=INT8

// Tests the lowering of quantized weights (plan.fbs: QuantizeAtLoad and
// WeightQuantization). Each weight read through a bloom.dequantize becomes
// two or three plan.weights, all naming the float weight's checkpoint
// tensor (the runtime quantizes it at load), each with its part, and the
// kernel that read the dequantized weight takes them in its place.
//
// int4, group 4, LM head quantized: the tied table [16, 8] is values i4
// [16, 8], scales f16 [16, 8 / 4 = 2] and zero points i8 [16, 2], and both
// the embedding and the LM head read the same three; the QKV weight [24, 8]
// keeps its bias after its three parts.
// INT4: %[[IDS:.+]] = plan.input "token_ids"
// INT4: %[[TQ:.+]] = plan.weight "word_embeddings.weight" from "model.safetensors" ["word_embeddings.weight"] bf16 quantize(int4, group = 4, values) : memref<16x8xi4>
// INT4-NEXT: %[[TS:.+]] = plan.weight "word_embeddings.weight.scales" from "model.safetensors" ["word_embeddings.weight"] bf16 quantize(int4, group = 4, scales) : memref<16x2xf16>
// INT4-NEXT: %[[TZ:.+]] = plan.weight "word_embeddings.weight.zero_points" from "model.safetensors" ["word_embeddings.weight"] bf16 quantize(int4, group = 4, zero_points) : memref<16x2xi8>
// INT4: plan.embedding_gather ins(%[[IDS]], %[[TQ]], %[[TS]], %[[TZ]] : memref<?xi32>, memref<16x8xi4>, memref<16x2xf16>, memref<16x2xi8>) outs(%{{.+}} : memref<?x8xbf16>)
// INT4: %[[WQ:.+]] = plan.weight "h.0.self_attention.query_key_value.weight" from "model.safetensors" ["h.0.self_attention.query_key_value.weight"] bf16 quantize(int4, group = 4, values) : memref<24x8xi4>
// INT4-NEXT: %[[WS:.+]] = plan.weight "h.0.self_attention.query_key_value.weight.scales" {{.*}} quantize(int4, group = 4, scales) : memref<24x2xf16>
// INT4-NEXT: %[[WZ:.+]] = plan.weight "h.0.self_attention.query_key_value.weight.zero_points" {{.*}} quantize(int4, group = 4, zero_points) : memref<24x2xi8>
// INT4: %[[WB:.+]] = plan.weight "h.0.self_attention.query_key_value.bias" from "model.safetensors" ["h.0.self_attention.query_key_value.bias"] bf16 : memref<24xbf16>
// INT4: plan.linear ins(%{{.+}}, %[[WQ]], %[[WS]], %[[WZ]], %[[WB]] : memref<?x8xbf16>, memref<24x8xi4>, memref<24x2xf16>, memref<24x2xi8>, memref<24xbf16>) outs(%{{.+}} : memref<?x24xbf16>)
// INT4: plan.linear ins(%{{.+}}, %[[TQ]], %[[TS]], %[[TZ]] : memref<?x8xbf16>, memref<16x8xi4>, memref<16x2xf16>, memref<16x2xi8>) outs(%{{.+}} : memref<?x16xf32>)
// INT4-NOT: bloom.dequantize
//
// int8 (per output channel: the group is the row, 8), LM head left bf16:
// values i8 [24, 8] and scales f16 [24, 1], no zero points; the table is
// one bf16 weight, as unquantized.
// INT8: %[[T:.+]] = plan.weight "word_embeddings.weight" from "model.safetensors" ["word_embeddings.weight"] bf16 : memref<16x8xbf16>
// INT8: %[[Q:.+]] = plan.weight "h.0.self_attention.query_key_value.weight" {{.*}} quantize(int8, group = 8, values) : memref<24x8xi8>
// INT8-NEXT: %[[S:.+]] = plan.weight "h.0.self_attention.query_key_value.weight.scales" {{.*}} quantize(int8, group = 8, scales) : memref<24x1xf16>
// INT8-NOT: zero_points
// INT8: plan.linear ins(%{{.+}}, %[[Q]], %[[S]], %{{.+}} : memref<?x8xbf16>, memref<24x8xi8>, memref<24x1xf16>, memref<24xbf16>)
// INT8: plan.linear ins(%{{.+}}, %[[T]] : memref<?x8xbf16>, memref<16x8xbf16>)
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
