// RUN: bloom-opt --bloom-quantize-weights=weights=int4 %s | FileCheck %s
// RUN: bloom-opt --bloom-quantize-weights=weights=int4 --bloom-assign-precision=policy=bf16 --bloom-plan-memory="max-batch-tokens=4 max-logit-rows=2" %s | FileCheck %s --check-prefix=BYTES
// RUN: bloom-opt --bloom-quantize-weights=weights=int4 --bloom-assign-precision=policy=bf16 --bloom-plan-memory="max-batch-tokens=4 max-logit-rows=2" --bloom-tier-memory=offload=host %s | FileCheck %s --check-prefix=TIER

// Tests int4 with the default group size 128 on one fused BLOOM block
// (hidden 256, 2 heads of 128, MLP 1024, vocab 16): all four linear
// weights of the block (QKV, attention dense, h->4h, 4h->h) are quantized,
// the tied embedding / LM head is not. Groups per row = in / 128:
//   QKV   [768, 256]  -> 2: scales and zero points [768, 2]
//   dense [256, 256]  -> 2: [256, 2]
//   h->4h [1024, 256] -> 2: [1024, 2]
//   4h->h [256, 1024] -> 8: [256, 8]
// CHECK: %[[QQ:.+]] = bloom.weight "h.0.self_attention.query_key_value.weight" : tensor<768x256xi4>
// CHECK-NEXT: %[[QS:.+]] = bloom.weight "h.0.self_attention.query_key_value.weight.scales" : tensor<768x2xf16>
// CHECK-NEXT: %[[QZ:.+]] = bloom.weight "h.0.self_attention.query_key_value.weight.zero_points" : tensor<768x2xi8>
// CHECK-NEXT: %[[QW:.+]] = bloom.dequantize %[[QQ]], %[[QS]] zero_points %[[QZ]] {group_size = 128 : i64} : (tensor<768x256xi4>, tensor<768x2xf16>, tensor<768x2xi8>) -> tensor<768x256xf32>
// CHECK-NEXT: bloom.alibi_attention %{{.+}}, %[[QW]], %{{.+}}, %{{.+}}
// CHECK: bloom.weight "h.0.self_attention.dense.weight.scales" : tensor<256x2xf16>
// CHECK: bloom.weight "h.0.mlp.dense_h_to_4h.weight.scales" : tensor<1024x2xf16>
// CHECK: bloom.weight "h.0.mlp.dense_4h_to_h.weight" : tensor<256x1024xi4>
// CHECK-NEXT: bloom.weight "h.0.mlp.dense_4h_to_h.weight.scales" : tensor<256x8xf16>
// CHECK-NEXT: bloom.weight "h.0.mlp.dense_4h_to_h.weight.zero_points" : tensor<256x8xi8>
// CHECK: bloom.lm_head %{{.+}}, %{{.+}} : (tensor<?x256xf32>, tensor<16x256xf32>)
//
// Bytes under the bf16 policy, by hand:
//   int4 values, half a byte each: (768 + 256 + 1024) x 256 / 2 + 256 x 1024 / 2
//     = 262144 + 131072 = 393216
//   scales, f16: (768 x 2 + 256 x 2 + 1024 x 2 + 256 x 8) x 2 = 6144 x 2 = 12288
//   zero points, i8: 6144
//   bf16: the table 16 x 256 x 2 = 8192
//   weights 393216 + 12288 + 6144 + 8192 = 419840
// (bf16 weights would be 2 x 786432 = 1572864 bytes for the four.)
// BYTES: bloom.bytes_by_format = {bf16 = 8192 : i64, int4 = 393216 : i64, scales = 12288 : i64, zero_points = 6144 : i64}
// BYTES-SAME: weights_bytes = 419840 : i64
//
// Tiering streams a quantized weight's values, scales and zero points with
// the op that reads them, in unit "h.0", each at a 256-byte-aligned offset
// (every size here is a multiple of 256): QKV 98304 + 3072 + 1536, dense
// 32768 + 1024 + 512, h->4h 131072 + 4096 + 2048, 4h->h 131072 + 4096 +
// 2048 = 411648, rounded up to 4096: 413696. The scales of the QKV sit
// right after its values, at 98304.
// TIER: {bytes = 413696 : i64, {{.*}}name = "h.0", residency = "host"
// TIER: bloom.weight "h.0.self_attention.query_key_value.weight" {bloom.slot_offset = 0 : i64, bloom.stream_unit = "h.0"} : tensor<768x256xi4>
// TIER-NEXT: bloom.weight "h.0.self_attention.query_key_value.weight.scales" {bloom.slot_offset = 98304 : i64, bloom.stream_unit = "h.0"} : tensor<768x2xf16>
// TIER-NEXT: bloom.weight "h.0.self_attention.query_key_value.weight.zero_points" {bloom.slot_offset = 101376 : i64, bloom.stream_unit = "h.0"} : tensor<768x2xi8>
module {
  func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x16xf32> {
    %t = bloom.weight "word_embeddings.weight" : tensor<16x256xf32>
    %e = bloom.embedding %ids, %t : (tensor<?xi32>, tensor<16x256xf32>) -> tensor<?x256xf32>
    %qkv = bloom.weight "h.0.self_attention.query_key_value.weight" : tensor<768x256xf32>
    %c = bloom.alibi_attention %e, %qkv, %pos, %slots {layer = 0 : i64, num_heads = 2 : i64, head_dim = 128 : i64, alibi_slopes = array<f32: 0.0625, 0.00390625>} : (tensor<?x256xf32>, tensor<768x256xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x256xf32>
    %dw = bloom.weight "h.0.self_attention.dense.weight" : tensor<256x256xf32>
    %d = bloom.linear %c, %dw : (tensor<?x256xf32>, tensor<256x256xf32>) -> tensor<?x256xf32>
    %uw = bloom.weight "h.0.mlp.dense_h_to_4h.weight" : tensor<1024x256xf32>
    %u = bloom.linear %d, %uw epilogue gelu : (tensor<?x256xf32>, tensor<1024x256xf32>) -> tensor<?x1024xf32>
    %ow = bloom.weight "h.0.mlp.dense_4h_to_h.weight" : tensor<256x1024xf32>
    %o = bloom.linear %u, %ow : (tensor<?x1024xf32>, tensor<256x1024xf32>) -> tensor<?x256xf32>
    %p = bloom.gather_rows %o, %rows : (tensor<?x256xf32>, tensor<?xi32>) -> tensor<?x256xf32>
    %l = bloom.lm_head %p, %t : (tensor<?x256xf32>, tensor<16x256xf32>) -> tensor<?x16xf32>
    return %l : tensor<?x16xf32>
  }
}
