// RUN: bloom-opt --bloom-plan-memory="max-batch-tokens=4 max-seq-len=40 max-sequences=3 device-memory=6000" --split-input-file --verify-diagnostics %s

// Tests the fit error when the KV cache is what does not fit: 2 layers of
// 2 heads x 4 in bf16 over 3 x 3 blocks = 9216 B, weights 640 B, against
// 6000 B. Arena (T = 4, R = min(3 sequences, 4) = 3): logits [3x16] f32
// 192 at 0, the two qkv buffers [4x24] bf16 192 at 192 (each live in its
// op only), the inputs at 384..640, e 640, a 704, b 640, p 704: 768 B.
// The cache may have 6000 - 640 - 768 = 4592 B, and one block of one slot
// takes 2 * 2 * 2 * 16 * 4 * 2 = 1024 B: one block per sequence
// (--max-seq-len=16) or one sequence of 3 blocks fit; weights + KV over
// ranks with 6000 - 768 B each need 2, and so do pipeline stages (9856 B
// over 5232 B: 2 at least, each of one of the 2 layers).
// expected-error @+1 {{plan needs 10.4 KiB (weights 640 B, KV cache 9 KiB, activations 768 B, workspace 0 B) but --device-memory is 5.9 KiB (6000 bytes); would fit: --max-seq-len=16, or --max-sequences=1, or --tp=2 (the fewest ranks that divide the 2 heads), or --pp=2 or more (each stage holding its layers' share of the weights and KV cache)}}
module {
  func.func @step(%x: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x16xf32> {
    %t = bloom.weight "t" : tensor<16x8xbf16>
    %e = bloom.embedding %x, %t : (tensor<?xi32>, tensor<16x8xbf16>) -> tensor<?x8xbf16>
    %w = bloom.weight "qkv" : tensor<24x8xbf16>
    %a = bloom.alibi_attention %e, %w, %pos, %slots {layer = 0 : i64, num_heads = 2 : i64, head_dim = 4 : i64, alibi_slopes = array<f32: 0.25, 0.0625>, qkv_storage = bf16} : (tensor<?x8xbf16>, tensor<24x8xbf16>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x8xbf16>
    %b = bloom.alibi_attention %a, %w, %pos, %slots {layer = 1 : i64, num_heads = 2 : i64, head_dim = 4 : i64, alibi_slopes = array<f32: 0.25, 0.0625>, qkv_storage = bf16} : (tensor<?x8xbf16>, tensor<24x8xbf16>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x8xbf16>
    %p = bloom.gather_rows %b, %rows : (tensor<?x8xbf16>, tensor<?xi32>) -> tensor<?x8xbf16>
    %l = bloom.lm_head %p, %t : (tensor<?x8xbf16>, tensor<16x8xbf16>) -> tensor<?x16xf32>
    return %l : tensor<?x16xf32>
  }
}

// -----

// Tests that the weights not fitting points at tensor parallelism and
// offload (--bloom-tier-memory): a [256 x 8] f32 table is 8 KiB; the arena
// holds logits [3x256] f32 at 0, e at 3072, p at 3200 and the inputs up to
// 3584 B, so each rank has 6000 - 3584 = 2416 B for weights: 4 ranks (no
// attention, so no head count to divide; no layers, so no --pp).
// expected-error @+1 {{plan needs 11.5 KiB (weights 8 KiB, KV cache 0 B, activations 3.5 KiB, workspace 0 B) but --device-memory is 5.9 KiB (6000 bytes); would fit: --tp=4 (the fewest ranks), or offloading weights (--host-memory=BYTES or --disk-dir=PATH: --bloom-tier-memory)}}
module {
  func.func @step(%x: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) -> tensor<?x256xf32> {
    %t = bloom.weight "t" : tensor<256x8xf32>
    %e = bloom.embedding %x, %t : (tensor<?xi32>, tensor<256x8xf32>) -> tensor<?x8xf32>
    %p = bloom.gather_rows %e, %rows : (tensor<?x8xf32>, tensor<?xi32>) -> tensor<?x8xf32>
    %l = bloom.lm_head %p, %t : (tensor<?x8xf32>, tensor<256x8xf32>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// -----

// Tests that memory planning needs the fused graph: unfused ops have no
// kernel, so they have no buffers to plan.
module {
  func.func @step(%h: tensor<?x2x4xf32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) {
    // expected-error @+1 {{bloom.merge_heads has no kernel; run --bloom-fuse first}}
    %m = bloom.merge_heads %h : tensor<?x2x4xf32> -> tensor<?x8xf32>
    return
  }
}

// -----

// Tests that all attention layers must share one KV-cache shape.
module {
  func.func @step(%x: tensor<?x8xf32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>, %rows: tensor<?xi32>) {
    %w = bloom.weight "qkv" : tensor<24x8xf32>
    %a = bloom.alibi_attention %x, %w, %pos, %slots {layer = 0 : i64, num_heads = 2 : i64, head_dim = 4 : i64, alibi_slopes = array<f32: 0.25, 0.0625>} : (tensor<?x8xf32>, tensor<24x8xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x8xf32>
    // expected-error @+1 {{has 1 heads of 8 in 'f32' but an earlier layer has 2 of 4 in 'f32'; the KV cache needs one shape}}
    %b = bloom.alibi_attention %x, %w, %pos, %slots {layer = 1 : i64, num_heads = 1 : i64, head_dim = 8 : i64, alibi_slopes = array<f32: 0.5>} : (tensor<?x8xf32>, tensor<24x8xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x8xf32>
    return
  }
}
