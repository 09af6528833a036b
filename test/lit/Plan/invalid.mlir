// RUN: bloom-opt --split-input-file --verify-diagnostics %s

// Tests that arena offsets are multiples of 64.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 {
  // expected-error @+1 {{offset 32 is not a multiple of 64}}
  %0 = plan.buffer "x" tokens at 32 : memref<?x8xf32>
}

// -----

// Tests that a buffer's room for max_batch_tokens rows ends inside the arena.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 128 {
  // expected-error @+1 {{occupies bytes [64, 192) past the arena's 128}}
  %0 = plan.buffer "x" tokens at 64 : memref<?x8xf32>
}

// -----

// Tests that a per-token buffer has a dynamic leading dimension.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 {
  // expected-error @+1 {{with rows tokens must have a dynamic leading dimension and static others}}
  %0 = plan.buffer "x" tokens at 0 : memref<4x8xf32>
}

// -----

// Tests that each role appears on one tensor only.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 {
  %0 = plan.input "token_ids" token_ids at 0 : memref<?xi32>
  // expected-error @+1 {{repeats role token_ids}}
  %1 = plan.input "more_ids" token_ids at 64 : memref<?xi32>
}

// -----

// Tests that logits are an activation's role, not a step input's.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 {
  // expected-error @+1 {{cannot have role logits}}
  %0 = plan.input "logits" logits at 0 : memref<?xi32>
}

// -----

// Tests that a kernel writes an arena buffer, not a weight.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 {
  %w = plan.weight "w" : memref<8xf32>
  %v = plan.weight "v" : memref<8xf32>
  // expected-error @+1 {{result must be a plan.buffer}}
  plan.gelu ins(%w : memref<8xf32>) outs(%v : memref<8xf32>)
}

// -----

// Tests that linear takes two to five operands (x, a float weight or a
// quantized one of two or three, and an optional bias).
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 {
  %x = plan.buffer "x" tokens at 0 : memref<?x8xf32>
  %y = plan.buffer "y" tokens at 128 : memref<?x8xf32>
  // expected-error @+1 {{takes 2 or 5 operands, got 1}}
  plan.linear ins(%x : memref<?x8xf32>) outs(%y : memref<?x8xf32>)
}

// -----

// Tests that a linear weight is [out, in] with in = x's columns.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 {
  %x = plan.buffer "x" tokens at 0 : memref<?x8xf32>
  %w = plan.weight "w" : memref<8x4xf32>
  %y = plan.buffer "y" tokens at 128 : memref<?x8xf32>
  // expected-error @+1 {{x must be [?, 4] f32, f16 or bf16, got 'memref<?x8xf32>'}}
  plan.linear ins(%x, %w : memref<?x8xf32>, memref<8x4xf32>) outs(%y : memref<?x8xf32>)
}

// -----

// Tests that embedding ids are i32.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 {
  %ids = plan.buffer "ids" tokens at 0 : memref<?xf32>
  %t = plan.weight "t" : memref<16x8xf32>
  %e = plan.buffer "e" tokens at 64 : memref<?x8xf32>
  // expected-error @+1 {{token_ids must be [?] 'i32'}}
  plan.embedding_gather ins(%ids, %t : memref<?xf32>, memref<16x8xf32>) outs(%e : memref<?x8xf32>)
}

// -----

// Tests that attention needs one slope per head and sized qkv.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 1, heads = 2, head_dim = 4, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 {
  %p = plan.input "positions" positions at 0 : memref<?xi32>
  %s = plan.input "sequence_slots" sequence_slots at 64 : memref<?xi32>
  %qkv = plan.buffer "qkv" tokens at 128 : memref<?x16xf32>
  %c = plan.buffer "c" tokens at 384 : memref<?x8xf32>
  // expected-error @+1 {{qkv (stored as the KV cache) must be [?, 24] 'f32'}}
  plan.alibi_attention ins(%qkv, %p, %s : memref<?x16xf32>, memref<?xi32>, memref<?xi32>) outs(%c : memref<?x8xf32>) {layer = 0 : i64, num_heads = 2 : i64, head_dim = 4 : i64, alibi_slopes = array<f32: 0.5, 0.25>}
}

// -----

// Tests that logits have one row per logit row.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 {
  // expected-error @+1 {{with role logits must have rows logit_rows}}
  %l = plan.buffer "logits" tokens at 0 role logits : memref<?x16xf32>
}

// -----

// Tests that two buffers live at the same time cannot share arena bytes:
// "a" is written by the first gelu and read by the second, while "b" (at an
// overlapping offset) is written by the first.
// expected-error @+1 {{arena: 'a' [0, 128) live 0..1 and 'b' [64, 192) live 0..0 share arena bytes}}
plan.program "tiny" checkpoint "" eos_token_id = 2
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 1, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 {
  %a = plan.buffer "a" tokens at 0 : memref<?x8xf32>
  %b = plan.buffer "b" tokens at 64 : memref<?x8xf32>
  %c = plan.buffer "c" tokens at 256 : memref<?x8xf32>
  plan.gelu ins(%a : memref<?x8xf32>) outs(%b : memref<?x8xf32>)
  plan.gelu ins(%a : memref<?x8xf32>) outs(%c : memref<?x8xf32>)
}

// -----

// Tests that buffers whose live ranges are disjoint may share bytes.
plan.program "tiny" checkpoint "" eos_token_id = 2
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 1, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 {
  %a = plan.buffer "a" tokens at 0 : memref<?x8xf32>
  %b = plan.buffer "b" tokens at 128 : memref<?x8xf32>
  %c = plan.buffer "c" tokens at 0 : memref<?x8xf32>
  plan.gelu ins(%a : memref<?x8xf32>) outs(%b : memref<?x8xf32>)
  plan.gelu ins(%b : memref<?x8xf32>) outs(%c : memref<?x8xf32>)
}

// -----

// Tests that logit-row buffers are sized by max_logit_rows, not
// max_batch_tokens: [2 x 16] f32 = 128 bytes fits an arena of 128.
plan.program "tiny" checkpoint "" eos_token_id = 2
    limits(max_batch_tokens = 8, max_logit_rows = 2, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 1, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 128 {
  %l = plan.buffer "logits" logit_rows at 0 role logits : memref<?x16xf32>
}

// -----

// Tests that max_logit_rows cannot exceed max_batch_tokens.
// expected-error @+1 {{max_logit_rows 9 exceeds max_batch_tokens 8}}
plan.program "tiny" checkpoint "" eos_token_id = 2
    limits(max_batch_tokens = 8, max_logit_rows = 9, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 1, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 128 {
}

// -----

// Tests that attention's qkv has the KV cache's storage type.
plan.program "tiny" checkpoint "" eos_token_id = 2
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 1, heads = 2, head_dim = 4, block_size = 16, blocks = 1, dtype = bf16)
    arena_bytes = 1024 {
  %pos = plan.input "positions" positions at 0 : memref<?xi32>
  %qkv = plan.buffer "qkv" tokens at 64 : memref<?x24xf32>
  %ctx = plan.buffer "ctx" tokens at 512 : memref<?x8xbf16>
  // expected-error @+1 {{qkv (stored as the KV cache) must be [?, 24] 'bf16'}}
  plan.alibi_attention ins(%qkv, %pos, %pos : memref<?x24xf32>, memref<?xi32>, memref<?xi32>) outs(%ctx : memref<?x8xbf16>) {layer = 0 : i64, num_heads = 2 : i64, head_dim = 4 : i64, alibi_slopes = array<f32: 0.5, 0.25>}
}

// -----

// Tests that a rank lies in its group.
// expected-error @+1 {{tensor-parallel rank 2 is not in [0, 2)}}
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 tensor_parallel(rank = 2, size = 2) {
}

// -----

// Tests that an all-gather's result has tp_size times the columns.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 tensor_parallel(rank = 0, size = 4) {
  %x = plan.buffer "x" tokens at 0 : memref<?x8xf32>
  %y = plan.buffer "y" tokens at 256 : memref<?x16xf32>
  // expected-error @+1 {{out must be [?, 32] 'f32', got 'memref<?x16xf32>'}}
  plan.all_gather ins(%x : memref<?x8xf32>) outs(%y : memref<?x16xf32>)
}

// -----

// Tests that a weight slice matches the declared shape.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 {
  // expected-error @+1 {{slice [0, 3) of dimension 1 does not match the result 'memref<8x4xf32>'}}
  %w = plan.weight "w" slice(dim = 1, begin = 0, end = 3) : memref<8x4xf32>
}

// -----

// Tests that a streamed weight is not read before its unit is awaited.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 weight_slots(count = 2, bytes = 4096) {
  plan.weight_unit "h.0" host bytes = 4096 slot = 0
  plan.weight_unit "h.1" host bytes = 4096 slot = 1
  plan.weight_unit "h.2" host bytes = 4096 slot = 0
  %x = plan.buffer "x" tokens at 0 : memref<?x8xf32>
  %y = plan.buffer "y" tokens at 256 : memref<?x8xf32>
  %w0 = plan.weight "h.0.w" stream "h.0" at 0 : memref<8x8xf32>
  plan.prefetch_weights "h.0"
  // expected-error @+1 {{'plan.linear' op reads streamed weight 'h.0.w' of unit 'h.0' outside its await..prefetch window (its slot holds 'h.0', not yet awaited)}}
  plan.linear ins(%x, %w0 : memref<?x8xf32>, memref<8x8xf32>) outs(%y : memref<?x8xf32>)
}

// -----

// Tests that an await follows a prefetch of its unit.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 weight_slots(count = 2, bytes = 4096) {
  plan.weight_unit "h.0" host bytes = 4096 slot = 0
  plan.weight_unit "h.1" host bytes = 4096 slot = 1
  plan.weight_unit "h.2" host bytes = 4096 slot = 0
  %x = plan.buffer "x" tokens at 0 : memref<?x8xf32>
  %y = plan.buffer "y" tokens at 256 : memref<?x8xf32>
  %w0 = plan.weight "h.0.w" stream "h.0" at 0 : memref<8x8xf32>
  // expected-error @+1 {{'plan.await_weights' op awaits 'h.0' but the last prefetch into its slot is none}}
  plan.await_weights "h.0"
}

// -----

// Tests that a copy into a slot is awaited before the next copy into it starts.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 weight_slots(count = 2, bytes = 4096) {
  plan.weight_unit "h.0" host bytes = 4096 slot = 0
  plan.weight_unit "h.1" host bytes = 4096 slot = 1
  plan.weight_unit "h.2" host bytes = 4096 slot = 0
  %x = plan.buffer "x" tokens at 0 : memref<?x8xf32>
  %y = plan.buffer "y" tokens at 256 : memref<?x8xf32>
  %w0 = plan.weight "h.0.w" stream "h.0" at 0 : memref<8x8xf32>
  plan.prefetch_weights "h.0"
  // expected-error @+1 {{'plan.prefetch_weights' op prefetches 'h.2' into slot 0 while the copy of 'h.0' into it is not yet awaited}}
  plan.prefetch_weights "h.2"
}

// -----

// Tests that a weight is not read after the next prefetch into its slot.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 weight_slots(count = 2, bytes = 4096) {
  plan.weight_unit "h.0" host bytes = 4096 slot = 0
  plan.weight_unit "h.1" host bytes = 4096 slot = 1
  plan.weight_unit "h.2" host bytes = 4096 slot = 0
  %x = plan.buffer "x" tokens at 0 : memref<?x8xf32>
  %y = plan.buffer "y" tokens at 256 : memref<?x8xf32>
  %w0 = plan.weight "h.0.w" stream "h.0" at 0 : memref<8x8xf32>
  plan.prefetch_weights "h.0"
  plan.await_weights "h.0"
  plan.prefetch_weights "h.2"
  // expected-error @+1 {{'plan.linear' op reads streamed weight 'h.0.w' of unit 'h.0' outside its await..prefetch window (its slot holds 'h.2', not yet awaited)}}
  plan.linear ins(%x, %w0 : memref<?x8xf32>, memref<8x8xf32>) outs(%y : memref<?x8xf32>)
}

// -----

// Tests that the ring has at least two slots.
// expected-error @+1 {{'plan.program' op has 1 weight slot; streaming needs a ring of at least 2}}
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 weight_slots(count = 1, bytes = 4096) {
  plan.weight_unit "h.0" host bytes = 4096 slot = 0
}

// -----

// Tests that slots are whole 4096-byte blocks.
// expected-error @+1 {{'plan.program' op weight slots of 5000 bytes are not a multiple of 4096}}
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 weight_slots(count = 2, bytes = 5000) {
}

// -----

// Tests that a unit streams into a slot of the ring.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 weight_slots(count = 2, bytes = 4096) {
  // expected-error @+1 {{'plan.weight_unit' op streams into slot 2 of 2}}
  plan.weight_unit "h.0" host bytes = 4096 slot = 2
}

// -----

// Tests that a unit's size is a multiple of 4096.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 weight_slots(count = 2, bytes = 4096) {
  // expected-error @+1 {{'plan.weight_unit' op has 1000 bytes, not a multiple of 4096}}
  plan.weight_unit "h.0" host bytes = 1000 slot = 0
}

// -----

// Tests that a unit fits its slot.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 weight_slots(count = 2, bytes = 4096) {
  // expected-error @+1 {{'plan.weight_unit' op has 8192 bytes but a slot holds 4096}}
  plan.weight_unit "h.0" host bytes = 8192 slot = 0
}

// -----

// Tests that a disk unit names its file.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 weight_slots(count = 2, bytes = 4096) {
  // expected-error @+1 {{'plan.weight_unit' op on disk needs a file and offset}}
  plan.weight_unit "h.0" disk bytes = 4096 slot = 0
}

// -----

// Tests that a disk unit's file lies inside the plan directory.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 weight_slots(count = 2, bytes = 4096) {
  // expected-error @+1 {{'plan.weight_unit' op file '../units.bin' must be a path inside the plan directory}}
  plan.weight_unit "h.0" disk bytes = 4096 slot = 0 file "../units.bin" offset 0
}

// -----

// Tests that a disk unit's file offset is 4096-aligned (direct I/O).
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 weight_slots(count = 2, bytes = 4096) {
  // expected-error @+1 {{'plan.weight_unit' op file offset 512 is not a multiple of 4096}}
  plan.weight_unit "h.0" disk bytes = 4096 slot = 0 file "units.bin" offset 512
}

// -----

// Tests that a streamed weight starts 256-byte aligned inside its unit.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 weight_slots(count = 2, bytes = 4096) {
  plan.weight_unit "h.0" host bytes = 4096 slot = 0
  // expected-error @+1 {{'plan.weight' op at slot offset 100 (256 bytes) is not a 256-aligned range inside unit 'h.0' of 4096 bytes}}
  %w = plan.weight "h.0.w" stream "h.0" at 100 : memref<8x8xf32>
}

// -----

// Tests that a streamed weight ends inside its unit.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 weight_slots(count = 2, bytes = 4096) {
  plan.weight_unit "h.0" host bytes = 4096 slot = 0
  // expected-error @+1 {{'plan.weight' op at slot offset 3840 (512 bytes) is not a 256-aligned range inside unit 'h.0' of 4096 bytes}}
  %w = plan.weight "h.0.w" stream "h.0" at 3840 : memref<8x16xf32>
}

// -----

// Tests that two weights of one unit do not share bytes.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 weight_slots(count = 2, bytes = 4096) {
  plan.weight_unit "h.0" host bytes = 4096 slot = 0
  %a = plan.weight "h.0.a" stream "h.0" at 0 : memref<8x16xf32>
  // expected-error @+1 {{'plan.weight' op overlaps 'h.0.a' in unit 'h.0'}}
  %b = plan.weight "h.0.b" stream "h.0" at 256 : memref<8x8xf32>
}

// -----

// Tests that prefetch names a declared unit.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 weight_slots(count = 2, bytes = 4096) {
  // expected-error @+1 {{'plan.prefetch_weights' op names weight unit 'h.9', which the program does not declare}}
  plan.prefetch_weights "h.9"
}

// -----

// Tests that a weight unit needs the program's slots.
plan.program "t" checkpoint "" eos_token_id = -1
    limits(max_batch_tokens = 4, max_logit_rows = 4, max_seq_len = 16, max_sequences = 1)
    kv_cache(layers = 0, heads = 1, head_dim = 1, block_size = 16, blocks = 1, dtype = f32)
    arena_bytes = 1024 {
  // expected-error @+1 {{'plan.weight_unit' op needs the program's weight_slots(count, bytes)}}
  plan.weight_unit "h.0" host bytes = 4096 slot = 0
}
