// RUN: bloom-opt --bloom-quantize-weights="weights=int8 quantize-lm-head=true" --bloom-assign-precision=policy=bf16 --bloom-plan-memory="max-batch-tokens=4 max-logit-rows=2" %s | FileCheck %s --check-prefix=ON
// RUN: bloom-opt --bloom-quantize-weights="weights=int8 quantize-lm-head=true" %s | grep -c bloom.dequantize | FileCheck %s --check-prefix=COUNT
// RUN: bloom-opt --bloom-quantize-weights="weights=int8 quantize-lm-head=false" %s | FileCheck %s --check-prefix=OFF

// Tests quantize-lm-head on a graph whose LM head is tied to the embedding
// (hidden 8, vocab 16, one linear [8, 8]). On: the one table becomes i8
// [16, 8] with f16 scales [16, 1], and a single dequantize feeds both the
// embedding and the LM head (the table stays one tensor). Bytes by hand:
// int8 16 x 8 + 8 x 8 = 192; scales (16 + 8) x 2 = 48; nothing else.
// ON: bloom.bytes_by_format = {int8 = 192 : i64, scales = 48 : i64}
// ON-SAME: weights_bytes = 240 : i64
// ON-SAME: bloom.quantization = {group_size = 0 : i64, lm_head = true, lm_head_group_size = 0 : i64, lm_head_weights = "int8", weights = "int8"}
// ON: %[[TQ:.+]] = bloom.weight "word_embeddings.weight" : tensor<16x8xi8>
// ON-NEXT: %[[TS:.+]] = bloom.weight "word_embeddings.weight.scales" : tensor<16x1xf16>
// ON-NEXT: %[[T:.+]] = bloom.dequantize %[[TQ]], %[[TS]]
// ON-NEXT: bloom.embedding %{{.+}}, %[[T]]
// ON: bloom.lm_head %{{.+}}, %[[T]] {{.*}}: (tensor<?x8xbf16>, tensor<16x8xbf16>)
// Two dequantizes in all: the table's and the linear's.
// COUNT: 2
//
// Off: the table is read as it is; only the linear is quantized.
// OFF: lm_head = false
// OFF: %[[T:.+]] = bloom.weight "word_embeddings.weight" : tensor<16x8xf32>
// OFF-NEXT: bloom.embedding %{{.+}}, %[[T]]
// OFF: bloom.weight "h.0.self_attention.dense.weight" : tensor<8x8xi8>
// OFF: bloom.lm_head %{{.+}}, %[[T]]
module {
  func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x16xf32> {
    %t = bloom.weight "word_embeddings.weight" : tensor<16x8xf32>
    %e = bloom.embedding %ids, %t : (tensor<?xi32>, tensor<16x8xf32>) -> tensor<?x8xf32>
    %w = bloom.weight "h.0.self_attention.dense.weight" : tensor<8x8xf32>
    %d = bloom.linear %e, %w : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
    %p = bloom.gather_rows %d, %rows : (tensor<?x8xf32>, tensor<?xi32>) -> tensor<?x8xf32>
    %l = bloom.lm_head %p, %t : (tensor<?x8xf32>, tensor<16x8xf32>) -> tensor<?x16xf32>
    return %l : tensor<?x16xf32>
  }
}
