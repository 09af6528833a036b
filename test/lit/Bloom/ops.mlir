// RUN: bloom-opt --split-input-file %s | FileCheck %s
// RUN: bloom-opt --split-input-file %s | bloom-opt --split-input-file | FileCheck %s

// Tests that a weight round-trips with and without its checkpoint source.
// CHECK-LABEL: func.func @weights
func.func @weights() -> (tensor<64xf32>, tensor<256x64xf32>) {
  // CHECK: bloom.weight "ln_f.weight" from "model.safetensors" ["transformer.ln_f.weight"] bf16 : tensor<64xf32>
  %0 = bloom.weight "ln_f.weight" from "model.safetensors" ["transformer.ln_f.weight"] bf16 : tensor<64xf32>
  // CHECK: bloom.weight "word_embeddings.weight" : tensor<256x64xf32>
  %1 = bloom.weight "word_embeddings.weight" : tensor<256x64xf32>
  return %0, %1 : tensor<64xf32>, tensor<256x64xf32>
}

// -----

// Tests that every compute op round-trips with a dynamic token dimension.
// CHECK-LABEL: func.func @compute
func.func @compute(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>,
                   %rows: tensor<?xi32>, %table: tensor<256x64xf32>,
                   %g: tensor<64xf32>, %b: tensor<64xf32>,
                   %wqkv: tensor<192x64xf32>, %bqkv: tensor<192xf32>) -> tensor<?x256xf32> {
  // CHECK: %[[E:.+]] = bloom.embedding %{{.+}}, %{{.+}} : (tensor<?xi32>, tensor<256x64xf32>) -> tensor<?x64xf32>
  %e = bloom.embedding %ids, %table : (tensor<?xi32>, tensor<256x64xf32>) -> tensor<?x64xf32>
  // CHECK: %[[N:.+]] = bloom.layer_norm %[[E]], %{{.+}}, %{{.+}} {epsilon = 9.99999974E-6 : f32}
  %n = bloom.layer_norm %e, %g, %b {epsilon = 1.0e-5 : f32} : (tensor<?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  // CHECK: %[[QKV:.+]] = bloom.linear %[[N]], %{{.+}}, %{{.+}} : (tensor<?x64xf32>, tensor<192x64xf32>, tensor<192xf32>) -> tensor<?x192xf32>
  %qkv = bloom.linear %n, %wqkv, %bqkv : (tensor<?x64xf32>, tensor<192x64xf32>, tensor<192xf32>) -> tensor<?x192xf32>
  // CHECK: %[[CTX:.+]] = bloom.alibi_attention %[[QKV]], %{{.+}}, %{{.+}} {alibi_slopes = array<f32: 2.500000e-01, 6.250000e-02, 1.562500e-02, 3.906250e-03>, head_dim = 16 : i64, layer = 0 : i64, num_heads = 4 : i64}
  %ctx = bloom.alibi_attention %qkv, %pos, %slots {layer = 0 : i64, num_heads = 4 : i64, head_dim = 16 : i64, alibi_slopes = array<f32: 0.25, 0.0625, 0.015625, 0.00390625>} : (tensor<?x192xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x64xf32>
  // CHECK: %[[G:.+]] = bloom.gelu %[[CTX]] : tensor<?x64xf32>
  %gelu = bloom.gelu %ctx : tensor<?x64xf32>
  // CHECK: %[[S:.+]] = bloom.add %[[G]], %[[E]] : tensor<?x64xf32>
  %sum = bloom.add %gelu, %e : tensor<?x64xf32>
  // CHECK: %[[R:.+]] = bloom.gather_rows %[[S]], %{{.+}} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  %r = bloom.gather_rows %sum, %rows : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  // CHECK: bloom.lm_head %[[R]], %{{.+}} : (tensor<?x64xf32>, tensor<256x64xf32>) -> tensor<?x256xf32>
  %l = bloom.lm_head %r, %table : (tensor<?x64xf32>, tensor<256x64xf32>) -> tensor<?x256xf32>
  return %l : tensor<?x256xf32>
}

// -----

// Tests that a linear layer without a bias round-trips.
// CHECK-LABEL: func.func @linear_no_bias
func.func @linear_no_bias(%x: tensor<?x64xf32>, %w: tensor<32x64xf32>) -> tensor<?x32xf32> {
  // CHECK: bloom.linear %{{.+}}, %{{.+}} : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
  %y = bloom.linear %x, %w : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

