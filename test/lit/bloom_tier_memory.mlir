// RUN: bloom-opt --bloom-tier-memory="device-memory=25600" --split-input-file %s | FileCheck %s --check-prefix=RESIDENT
// RUN: bloom-opt --bloom-tier-memory="device-memory=24576" --split-input-file %s | FileCheck %s --check-prefix=HOST
// RUN: bloom-opt --bloom-tier-memory="device-memory=20480 host-memory=12288 disk-budget=-1" --split-input-file %s | FileCheck %s --check-prefix=DISK
// RUN: bloom-opt --bloom-tier-memory="offload=host" --split-input-file %s | FileCheck %s --check-prefix=FORCED
// RUN: bloom-opt --bloom-tier-memory="offload=host slots=3" --split-input-file %s | FileCheck %s --check-prefix=SLOTS3

// One graph under five budgets. Units, by name: "embedding" (the 16x8 f32
// table, 512 B, read by the embedding and again by the tied LM head: two
// visits), "h.0".."h.3" (an 8x8 f32 dense weight, 256 B, one visit each),
// "head" (ln_f weight at 0 and bias at 256, 32 B each). Every unit rounds
// up to 4096 B: weights 6 x 4096 = 24576 B. The device first holds the
// arena (bloom.memory: 1024 B; no KV cache).

// Tests that nothing moves when weights and arena fit: 24576 + 1024 = 25600.
// RESIDENT: device_weights_bytes = 24576 : i64
// RESIDENT-SAME: num_slots = 0 : i64
// RESIDENT-NOT: bloom.prefetch_weights
// RESIDENT-NOT: bloom.await_weights
// RESIDENT-NOT: bloom.stream_unit

// Tests that layers go to host memory when the device is 1024 B short:
// two slots of 4096 take 8192, leaving 24576 - 1024 - 8192 = 15360 for
// resident weights, so 24576 - 15360 = 9216 B (3 units) must stream. Units
// with one visit (h.0..h.3, head) go before the embedding's two; 3 of those
// 5 are taken evenly spread (member i when floor((i+1)3/5) steps): h.1,
// h.3, head. Slots by first use: h.1 0, h.3 1, head 0. Each slot's first
// unit is prefetched at the top of the step; head's after h.1's last read.
// Streamed per step 12288 B: 12288 / 25e9 = 4.9152e-7 s.
// HOST: device_weights_bytes = 12288 : i64
// HOST-SAME: host_weights_bytes = 12288 : i64
// HOST-SAME: num_slots = 2 : i64
// HOST-SAME: slot_bytes = 4096 : i64, stream_seconds = 4.915200e-07 : f64
// HOST-SAME: {bytes = 4096 : i64, name = "embedding", residency = "device", slot = -1 : i64, visits = 2 : i64}
// HOST-SAME: {bytes = 4096 : i64, name = "h.0", residency = "device", slot = -1 : i64, visits = 1 : i64}
// HOST-SAME: {bytes = 4096 : i64, name = "h.1", residency = "host", slot = 0 : i64, visits = 1 : i64}
// HOST-SAME: {bytes = 4096 : i64, name = "h.2", residency = "device", slot = -1 : i64, visits = 1 : i64}
// HOST-SAME: {bytes = 4096 : i64, name = "h.3", residency = "host", slot = 1 : i64, visits = 1 : i64}
// HOST-SAME: {bytes = 4096 : i64, name = "head", residency = "host", slot = 0 : i64, visits = 1 : i64}
// HOST: func.func @step
// HOST-NEXT: bloom.prefetch_weights "h.1"
// HOST-NEXT: bloom.prefetch_weights "h.3"
// HOST-NEXT: bloom.weight "word_embeddings.weight" : tensor<16x8xf32>
// HOST: bloom.weight "h.0.self_attention.dense.weight" : tensor<8x8xf32>
// HOST: bloom.weight "h.1.self_attention.dense.weight" {bloom.slot_offset = 0 : i64, bloom.stream_unit = "h.1"}
// HOST-NEXT: bloom.await_weights "h.1"
// HOST-NEXT: bloom.linear
// HOST-NEXT: bloom.weight "h.2.self_attention.dense.weight" : tensor<8x8xf32>
// HOST-NEXT: bloom.prefetch_weights "head"
// HOST-NEXT: bloom.linear
// HOST: bloom.await_weights "h.3"
// HOST-NEXT: bloom.linear
// HOST: bloom.weight "ln_f.bias" {bloom.slot_offset = 256 : i64, bloom.stream_unit = "head"}
// HOST-NEXT: bloom.await_weights "head"
// HOST-NEXT: bloom.layer_norm
// HOST-NOT: bloom.await_weights
// HOST: bloom.lm_head

// Tests the disk tier when host memory is full: at 20480 B the resident
// room is 20480 - 1024 - 8192 = 11264, so 13312 B (4 units: h.1, h.2, h.3,
// head) stream. They do not all fit 12288 B of host memory, so a disk unit
// exists and the host also holds 2 x 4096 of staging, leaving 4096: h.1 on
// the host, h.2, h.3 and head on disk at file offsets 0, 4096, 8192.
// Stream time: 4096 / 25e9 + 12288 / min(25e9, 3e9) = 4.25984e-6 s.
// DISK: device_weights_bytes = 8192 : i64
// DISK-SAME: disk_budget = -1 : i64, disk_weights_bytes = 12288 : i64
// DISK-SAME: host_budget = 12288 : i64, host_staging_bytes = 8192 : i64, host_weights_bytes = 4096 : i64
// DISK-SAME: stream_seconds = 4.2598400000000005E-6 : f64, streamed_bytes_per_step = 16384 : i64
// DISK-SAME: name = "h.1", residency = "host", slot = 0
// DISK-SAME: {bytes = 4096 : i64, file_offset = 0 : i64, name = "h.2", residency = "disk", slot = 1 : i64, visits = 1 : i64}
// DISK-SAME: {bytes = 4096 : i64, file_offset = 4096 : i64, name = "h.3", residency = "disk", slot = 0 : i64, visits = 1 : i64}
// DISK-SAME: {bytes = 4096 : i64, file_offset = 8192 : i64, name = "head", residency = "disk", slot = 1 : i64, visits = 1 : i64}
// DISK-SAME: units_file = "weight_units.bin"

// Tests prefetch/await placement with every unit forced to the host: slots
// alternate in first-use order (embedding 0, h.0 1, h.1 0, h.2 1, h.3 0,
// head 1); each unit's copy starts right after the last read of the slot's
// previous unit, i.e. one unit ahead; the tied table is streamed a second
// time for the LM head, into its slot 0 after h.3.
// FORCED: num_slots = 2 : i64
// FORCED-SAME: streamed_bytes_per_step = 28672 : i64
// FORCED: func.func @step
// FORCED-NEXT: bloom.prefetch_weights "embedding"
// FORCED-NEXT: bloom.prefetch_weights "h.0"
// FORCED-NEXT: bloom.weight "word_embeddings.weight" {bloom.slot_offset = 0 : i64, bloom.stream_unit = "embedding"}
// FORCED-NEXT: bloom.await_weights "embedding"
// FORCED-NEXT: bloom.embedding
// FORCED-NEXT: bloom.weight "h.0
// FORCED-NEXT: bloom.prefetch_weights "h.1"
// FORCED-NEXT: bloom.await_weights "h.0"
// FORCED-NEXT: bloom.linear
// FORCED-NEXT: bloom.weight "h.1
// FORCED-NEXT: bloom.prefetch_weights "h.2"
// FORCED-NEXT: bloom.await_weights "h.1"
// FORCED: bloom.prefetch_weights "h.3"
// FORCED-NEXT: bloom.await_weights "h.2"
// FORCED: bloom.prefetch_weights "head"
// FORCED-NEXT: bloom.await_weights "h.3"
// FORCED-NEXT: bloom.linear
// FORCED-NEXT: bloom.weight "ln_f.weight"
// FORCED-NEXT: bloom.weight "ln_f.bias"
// FORCED-NEXT: bloom.prefetch_weights "embedding"
// FORCED-NEXT: bloom.await_weights "head"
// FORCED-NEXT: bloom.layer_norm
// FORCED-NEXT: bloom.gather_rows
// FORCED-NEXT: bloom.await_weights "embedding"
// FORCED-NEXT: bloom.lm_head

// Tests a ring of three slots: copies run two units ahead (h.2 is
// prefetched when h.0's slot frees, before h.1 is awaited).
// SLOTS3: func.func @step
// SLOTS3-NEXT: bloom.prefetch_weights "embedding"
// SLOTS3-NEXT: bloom.prefetch_weights "h.0"
// SLOTS3-NEXT: bloom.prefetch_weights "h.1"
// SLOTS3: bloom.prefetch_weights "h.2"
// SLOTS3-NEXT: bloom.await_weights "h.0"
// SLOTS3: bloom.prefetch_weights "h.3"
// SLOTS3-NEXT: bloom.await_weights "h.1"
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
