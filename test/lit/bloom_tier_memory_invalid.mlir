// RUN: bloom-opt --bloom-tier-memory="device-memory=8192" --verify-diagnostics %s
// RUN: not bloom-opt --bloom-tier-memory="device-memory=20480 host-memory=0" %s 2>&1 | FileCheck %s --check-prefix=NOHOST
// RUN: not bloom-opt --bloom-tier-memory="offload=tape" %s 2>&1 | FileCheck %s --check-prefix=OFFLOAD
// RUN: not bloom-opt --bloom-tier-memory="slots=1" %s 2>&1 | FileCheck %s --check-prefix=SLOTS

// Tests the error when even streaming everything cannot fit the device:
// the arena (1024 B) and two slots of 4096 (every unit streams through
// them) need 9216 B against 8192. The units are those of bloom_tier_memory.mlir.
// expected-error @+1 {{bloom-tier-memory: plan does not fit even with weights offloaded: it needs 25 KiB (weights 24 KiB, KV cache + activations + workspace 1 KiB); --device-memory 8 KiB, --host-memory unlimited, disk unused; the device cannot hold the KV cache, activations and workspace plus at least 8 KiB of weights (2 slots of 4 KiB and the units larger than a slot); nothing smaller fits}}
module attributes {bloom.memory = {activations_bytes = 1024 : i64, kv_cache_bytes = 0 : i64, max_sequences = 1 : i64, workspace_bytes = 0 : i64}} {
  func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x16xf32> {
    %t = bloom.weight "word_embeddings.weight" : tensor<16x8xf32>
    %e = bloom.embedding %ids, %t : (tensor<?xi32>, tensor<16x8xf32>) -> tensor<?x8xf32> loc("embeddings")
    %w0 = bloom.weight "h.0.self_attention.dense.weight" : tensor<8x8xf32>
    %x0 = bloom.linear %e, %w0 : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32> loc("h.0.attn_dense")
    %w1 = bloom.weight "h.1.self_attention.dense.weight" : tensor<8x8xf32>
    %x1 = bloom.linear %x0, %w1 : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32> loc("h.1.attn_dense")
    %w2 = bloom.weight "h.2.self_attention.dense.weight" : tensor<8x8xf32>
    %x2 = bloom.linear %x1, %w2 : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32> loc("h.2.attn_dense")
    %w3 = bloom.weight "h.3.self_attention.dense.weight" : tensor<8x8xf32>
    %x3 = bloom.linear %x2, %w3 : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32> loc("h.3.attn_dense")
    %g = bloom.weight "ln_f.weight" : tensor<8xf32>
    %b = bloom.weight "ln_f.bias" : tensor<8xf32>
    %n = bloom.layer_norm %x3, %g, %b {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8xf32> loc("ln_f")
    %p = bloom.gather_rows %n, %rows : (tensor<?x8xf32>, tensor<?xi32>) -> tensor<?x8xf32> loc("logit_hidden")
    %l = bloom.lm_head %p, %t : (tensor<?x8xf32>, tensor<16x8xf32>) -> tensor<?x16xf32> loc("logits")
    return %l : tensor<?x16xf32>
  }
}

// Tests, with no host tier and no disk, that the error says how many bytes
// must leave the device (4 units of 4096, as in the DISK case of
// bloom_tier_memory.mlir) and what would hold them.
// NOHOST: 16 KiB (16384 bytes) of weights must leave the device; would fit: --host-memory=16384, or --disk-dir=PATH (disk tier)

// Tests option checks.
// OFFLOAD: bloom-tier-memory: offload must be host or disk, got 'tape'
// SLOTS: bloom-tier-memory: slots must be at least 2, got 1
