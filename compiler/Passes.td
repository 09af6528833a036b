// The compiler's passes, in pipeline order (bloom-compile runs them as
// import → fuse → [partition-tp, once per rank] → [quantize-weights] →
// assign-precision → plan-memory → lower → emit; bloom-opt runs each alone). docs/compiler-passes.md explains each in more depth.
#ifndef BLOOM_COMPILER_PASSES_TD
#define BLOOM_COMPILER_PASSES_TD

include "mlir/Pass/PassBase.td"

def BloomFuse : Pass<"bloom-fuse", "mlir::ModuleOp"> {
  let summary = "Fuses the bloom graph into the ops that have plan kernels.";
  let description = [{
    Pattern rewrites (greedy driver) on the unfused graph the builder emits:

    - `linear` (with or without bias) followed by `gelu` → `linear
      epilogue gelu`, when the gelu is the linear's only user;
    - `add` followed by `layer_norm` of the sum → `add_layer_norm`, whose
      two results replace both (the sum keeps serving its other users: the
      next residual in a pre-LN block). Blocked when a user of the sum sits
      between the add and the layer norm (the fused op could not dominate
      it);
    - the attention chain `linear` (QKV) → `split_heads` →
      `kv_cache_append` → `attention_scores` → `alibi_bias` →
      `causal_mask` → `softmax` → `attention_context` → `merge_heads` →
      one `alibi_attention` with the projection folded in. Every
      intermediate must have no other user (the cache: only the scores and
      the context), the positions and slots must agree, the scale must be
      1/sqrt(head_dim), and no other KV-cache op may sit inside the chain;
    - `cast(cast(x))` whose first cast is exact (to f32, or to its own
      type) → `x` when the second returns to x's type, else one cast; a
      cast to its own type folds to its operand.

    A fused op's location is the FusedLoc of the names it replaces (its
    result's name first), so plan tensors keep the graph's names.

    Before:
    ```mlir
    %u = bloom.linear %x, %w, %b : ... -> tensor<?x256xf32> loc("h.0.mlp_h_to_4h")
    %g = bloom.gelu %u : tensor<?x256xf32> loc("h.0.mlp_gelu")
    ```
    After:
    ```mlir
    %g = bloom.linear %x, %w, %b epilogue gelu : ... loc(fused["h.0.mlp_gelu", "h.0.mlp_h_to_4h"])
    ```
  }];
}

def BloomPartitionTp : Pass<"bloom-partition-tp", "mlir::ModuleOp"> {
  let summary = "Rewrites the graph into one rank's part of a tensor-parallel group.";
  let description = [{
    Megatron-style tensor parallelism over `tp` ranks; the pass makes rank
    `rank`'s graph (run it once per rank) and records `bloom.tp_rank` and
    `bloom.tp_size` on the module. It runs after --bloom-fuse (it splits
    whole heads of the fused attention and recognises the column-parallel
    MLP by its gelu epilogue) and before --bloom-assign-precision (which
    then chooses storage types on the final graph, collectives included)
    and --bloom-plan-memory (which then counts this rank's bytes).

    - `alibi_attention`: column-parallel. The QKV weight and bias keep rows
      [3·h0·D, 3·h1·D), heads [h0, h1) = [r·H/N, (r+1)·H/N) (HF's fused
      QKV is [heads, 3, head_dim] per row block, so a row slice holds whole
      heads); `num_heads` = H/N, `alibi_slopes` = the slopes of those global
      heads. The context holds this rank's heads.
    - `linear ... epilogue gelu` on a replicated input (h→4h):
      column-parallel, weight and bias sliced by rows.
    - `linear` on a sharded input (attention dense, 4h→h): row-parallel,
      weight sliced by input columns, bias kept on rank 0 only (added once),
      then `bloom.all_reduce`.
    - `embedding`: vocab-parallel, table rows [r·V/N, (r+1)·V/N) with
      `vocab_begin`/`vocab_size` (other ids give zero rows), then
      `bloom.all_reduce`.
    - `lm_head`: vocab-parallel, the (tied) table sliced alike; local logits
      [R, V/N], then `bloom.all_gather` into the full [R, V] on every rank
      (greedy decoding reads the full logits; no distributed argmax).
    - `gelu`/`cast` pass a sharded layout through; every other op needs
      replicated operands.

    Sliced weights are `bloom.weight ... slice(dim, begin, end)` so a rank
    loads only its bytes. A head count not divisible by `tp` is an error; so
    is a vocabulary, unless `replicate-vocab` keeps the embedding and LM head
    whole on every rank (no collective for them). A row-parallel op's
    partial result is renamed `<name>.partial` and the all-reduce takes the
    name; the local logits are `logits.shard`. `tp=1` changes nothing but
    the module attributes.

    Before (tp=2, rank=1):
    ```mlir
    %w = bloom.weight "h.0.self_attention.dense.weight" : tensor<64x64xf32>
    %b = bloom.weight "h.0.self_attention.dense.bias" : tensor<64xf32>
    %d = bloom.linear %ctx, %w, %b : ... -> tensor<?x64xf32> loc("h.0.attn_dense")
    ```
    After:
    ```mlir
    %w = bloom.weight "h.0.self_attention.dense.weight" slice(dim = 1, begin = 32, end = 64) : tensor<64x32xf32>
    %p = bloom.linear %ctx, %w : (tensor<?x32xf32>, tensor<64x32xf32>) -> tensor<?x64xf32> loc("h.0.attn_dense.partial")
    %d = bloom.all_reduce %p : tensor<?x64xf32> loc("h.0.attn_dense")
    ```
  }];
  let options = [
    Option<"tp", "tp", "int64_t", "1", "Ranks in the tensor-parallel group">,
    Option<"rank", "rank", "int64_t", "0", "The rank whose graph to make">,
    Option<"replicateVocab", "replicate-vocab", "bool", "false",
           "Keep the embedding and LM head whole when tp does not divide the vocabulary">,
  ];
}

def BloomPartitionPp : Pass<"bloom-partition-pp", "mlir::ModuleOp"> {
  let summary = "Keeps one pipeline stage's layers of the graph.";
  let description = [{
    Pipeline parallelism over `pp` stages; the pass makes stage `stage`'s
    graph (run it once per stage) and records `bloom.pp_stage`,
    `bloom.pp_size` and `bloom.pp_layers` (the stage's layers [begin, end))
    on the module. It runs before --bloom-partition-tp (a stage is then split
    across its tensor-parallel ranks), on the unfused or the fused graph.

    - The layers are cut into `pp` contiguous ranges of at least one layer.
      The embedding (and its norm) goes with stage 0; the final layer norm,
      `gather_rows` and the LM head with the last stage. Ops of a layer are
      those whose first tensor name is `h.N.*`; a weight stays where an op
      that reads it stays.
    - The ranges are balanced by the bytes a decode step reads: a stage's
      layers' weights, plus the embedding norm on the first stage (the
      gather reads T rows of the table, charged none) and the LM head's
      whole table on the last.
      The largest stage is made as small as it can be; among equal splits,
      earlier stages take more layers (ChooseStageRanges in
      PartitionPipeline.cpp). A layer count `pp` does not divide is
      balanced like any other.
    - The residual stream at a cut is the step's result of every stage but
      the last (instead of the logits) and the step's first argument of
      every stage but the first (instead of the token ids); stages before
      the last take no logit rows (the step interfaces of
      runtime/plan/plan.fbs). A fused `add_layer_norm` across a cut is split:
      its sum stays before the cut as an `add`, its norm is recomputed after
      it as a `layer_norm` of the argument.
    - A stage's KV cache holds its own layers only: the `layer` of its
      attention ops (the cache layer they read and write) counts from the
      stage's first layer, 0 on every stage; tensor names keep the model's
      layer numbers (`h.23.*`).
    - Errors: `pp` < 1, `stage` outside [0, pp), more stages than layers, a
      cut that crosses anything but the residual stream. `pp=1` changes
      nothing but the module attributes.

    Before (pp=2, stage=1, two layers):
    ```mlir
    func.func @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>,
                    %rows: tensor<?xi32>) -> tensor<?x256xf32> {
      %e = bloom.embedding %ids, %t ... loc("embeddings")
      ...
      %h0 = bloom.add %o0, %s0 : tensor<?x64xf32> loc("h.0.output")
      %n1 = bloom.layer_norm %h0, ... loc("h.1.attn_norm")
      ...
    ```
    After:
    ```mlir
    func.func @step(%h0: tensor<?x64xf32>, %pos: tensor<?xi32>, %slots: tensor<?xi32>,
                    %rows: tensor<?xi32>) -> tensor<?x256xf32> {
      %n1 = bloom.layer_norm %h0, ... loc("h.1.attn_norm")
      ...
    ```
  }];
  let options = [
    Option<"pp", "pp", "int64_t", "1", "Stages in the pipeline">,
    Option<"stage", "stage", "int64_t", "0", "The stage whose graph to make">,
  ];
}

def BloomQuantizeWeights : Pass<"bloom-quantize-weights", "mlir::ModuleOp"> {
  let summary = "Stores the blocks' linear weights as int8 or int4 with scales.";
  let description = [{
    Rewrites each linear weight of the blocks (the QKV projection of
    `alibi_attention`, or of the unfused QKV `linear`; attention dense,
    MLP h→4h and 4h→h: every `bloom.linear` weight) and, with
    `quantize-lm-head`, the LM head's weight (the tied embedding table
    with it, which then gathers dequantized rows) into a quantized weight:
    a `bloom.weight` of the values, a `bloom.weight` of the scales named
    `<weight>.scales` (and of the zero points, `<weight>.zero_points`), and
    a `bloom.dequantize` of them that replaces the float weight's uses.
    The storage is that of runtime/support/quantized_storage.h:
    `w[o][i] = scale[o][i/g] * (q[o][i] - zero[o][i/g])`.

    - `weights=int8`: symmetric, per output channel (g = 0: one group per
      row): values i8 [M, K] in [-127, 127], scales f16 [M, 1],
      `scale = max|w[o]| / 127`, no zero points. 1 byte a weight.
    - `weights=int4`: asymmetric, per group of `group-size` input columns:
      values i4 [M, K] in [-8, 7] (two a byte), scales f16 [M, K/g], zero
      points i8 [M, K/g], `scale = (max - min) / 15`,
      `zero = round(-8 - min / scale)`, `q = clamp(round(w / scale) + zero,
      -8, 7)`. Asymmetric because 16 levels are few: a group whose values
      are not centred on 0 would waste up to half of them symmetrically,
      and the published round-to-nearest anchor (GPTQ's BLOOM tables) is
      asymmetric min-max; the zero points cost 1/g byte a weight (1.5% of
      g128's 0.5 + 2/128 + 1/128 bytes).
    - Scales are f16 in every precision policy (the values and scales a
      plan stores do not depend on --dtype); the dequantized result is
      stored as the policy says (`--bloom-assign-precision`).

    Runs after `--bloom-partition-tp` (so that it quantizes each rank's
    slice, and checks the slice against the groups) and before
    `--bloom-assign-precision`. A tensor-parallel slice never splits a
    group: a row-parallel weight (sliced along its input dimension) whose
    per-rank input dimension is not a multiple of `group-size` is an error
    naming the weight, the TP degree and the group size. int8 per channel
    groups by rows, which every slice keeps whole; a row-parallel int8
    weight's scales are those of the rank's columns. Also errors:
    `group-size` < 1 for int4, an odd `group-size` for int4 (groups start on
    a byte), a group size that does not divide the input dimension, an
    odd input dimension for int4. The module gets `bloom.quantization`
    (weights, group_size, lm_head; with the LM head, lm_head_weights and
    lm_head_group_size) for report.json.

    `lm-head-weights=int8|int4` (with `quantize-lm-head` only) stores the
    LM head in a format of its own, e.g. int4 blocks with an int8 head:
    the head (the tied table) is the one weight every token's logits and
    embedding read, and at int8 it keeps most of the quality that an int4
    head loses, for a few percent of the weights' bytes. int8 is per output
    channel, int4 per group of `group-size`, as for the blocks; every
    later pass, the plan and the kernels take a format per weight.

    Before (int4, group-size=128):
    ```mlir
    %w = bloom.weight "h.0.mlp.dense_4h_to_h.weight" : tensor<64x256xf32>
    %d = bloom.linear %g, %w : (tensor<?x256xf32>, tensor<64x256xf32>) -> tensor<?x64xf32>
    ```
    After:
    ```mlir
    %q = bloom.weight "h.0.mlp.dense_4h_to_h.weight" : tensor<64x256xi4>
    %s = bloom.weight "h.0.mlp.dense_4h_to_h.weight.scales" : tensor<64x2xf16>
    %z = bloom.weight "h.0.mlp.dense_4h_to_h.weight.zero_points" : tensor<64x2xi8>
    %w = bloom.dequantize %q, %s zero_points %z {group_size = 128 : i64}
           : (tensor<64x256xi4>, tensor<64x2xf16>, tensor<64x2xi8>) -> tensor<64x256xf32>
    %d = bloom.linear %g, %w : (tensor<?x256xf32>, tensor<64x256xf32>) -> tensor<?x64xf32>
    ```
  }];
  let options = [
    Option<"weights", "weights", "std::string", "\"int8\"",
           "Storage of the linear weights: int8 (per channel) or int4 (per group)">,
    Option<"groupSize", "group-size", "int64_t", "128",
           "int4: input columns per scale (even, dividing each rank's input dimension)">,
    Option<"quantizeLmHead", "quantize-lm-head", "bool", "false",
           "Quantize the LM head (and the tied embedding table) too">,
    Option<"lmHeadWeights", "lm-head-weights", "std::string", "\"\"",
           "With quantize-lm-head: the LM head's storage, int8 or int4 "
           "(default: as `weights`)">,
  ];
}

def BloomAssignPrecision : Pass<"bloom-assign-precision", "mlir::ModuleOp"> {
  let summary = "Chooses storage, compute and accumulate types per op.";
  let description = [{
    Sets every tensor's element type to its storage type and every op's
    `precision` (#bloom.precision<compute, accumulate>) from a policy,
    with S the policy's storage type (f32, bf16 or f16):

    - weights are stored as S (the runtime converts from the checkpoint's
      dtype when it loads them);
    - accumulation is f32 everywhere; layer norms (statistics and
      normalisation) compute in f32; attention computes its scores and
      softmax in f32 in every policy;
    - logits (`lm_head`) are stored as f32 in every policy; `gather_rows`
      keeps its operand's type (it copies rows);
    - the fused attention's qkv buffer, and so the KV cache, is stored as S;
    - everything else is stored as S and computes in S.

    fp16 keeps in f32 what BLOOM overflows in fp16:
    - the residual stream: every `add` and `add_layer_norm` sum, and every
      tensor added into one (attention dense and MLP outputs, the residual
      itself), stored and computed in f32. Hidden states grow with depth in
      the large BLOOMs past fp16's 65504; bigscience trained BLOOM in bf16
      (whose range is f32's) for that reason;
    - attention scores and softmax, computed in f32 (in every policy):
      transformers' BloomAttention.forward upcasts the softmax,
      `F.softmax(attn_weights, dim=-1, dtype=torch.float32)`
      (transformers/models/bloom/modeling_bloom.py), and q·k/sqrt(d) plus
      the ALiBi bias (slope × key position, up to thousands) can exceed
      fp16's range.

    `bloom.cast` is inserted only where an op needs an operand in another
    storage type than it was produced in (`add`, `gelu` and the sum side of
    `add_layer_norm` take their operands in their own type); other kernels
    read each operand in its own storage type. With the rules above a BLOOM
    graph needs no cast in any policy. The policy is recorded as the module
    attribute `bloom.precision_policy`.

    A pipeline stage (`bloom.pp_stage` of `bloom.pp_size`, from
    --bloom-partition-pp) exchanges the hidden state with its neighbours, so
    both sides of a cut store it alike: as the residual stream is stored
    (S; f32 under fp16). A later stage's first argument gets that type, and
    a stage before the last returns it in that type (a cast if needed).
  }];
  let options = [
    Option<"policy", "policy", "std::string", "\"fp32\"",
           "Precision policy: fp32, bf16 or fp16">,
  ];
}

def BloomPlanMemory : Pass<"bloom-plan-memory", "mlir::ModuleOp"> {
  let summary = "Places activations in one arena by liveness; sizes the KV cache.";
  let description = [{
    Runs on the fused, precision-assigned bloom graph. Live ranges are taken
    in op order (compiler/Liveness.h): from the op that writes a tensor to
    the last that reads it; step inputs and the logits are live for the
    whole step; the fused attention's qkv buffer lives during its op.
    Offsets: greedy by size, each tensor at the lowest 64-byte-aligned
    offset free of every placed tensor whose live range overlaps its own
    (compiler/ArenaPlacement.h); the result is re-checked
    (dialects/Plan/ArenaCheck.h). Per-token tensors have room for
    `max-batch-tokens` rows, logit-row tensors for `max-logit-rows`.

    Records `bloom.arena_offsets` (per op: its results', then its internal
    buffers') and `bloom.input_offsets` (on @step), and the module attribute
    `bloom.memory`: the limits, the KV cache (blocks = max-sequences ×
    ceil(max-seq-len / kv-block-size), per layer K and V pools of [blocks,
    heads, block, head_dim] in the attention's qkv storage type) and bytes
    by category (weights, kv_cache, activations, workspace, arena without
    reuse). With `device-memory` > 0, a plan whose total exceeds it is an
    error that says what would fit.
  }];
  let options = [
    Option<"maxBatchTokens", "max-batch-tokens", "int64_t", "512",
           "Tokens per step (T); sizes every per-token buffer">,
    Option<"maxLogitRows", "max-logit-rows", "int64_t", "0",
           "Logit rows per step (R); 0 = min(max-sequences, max-batch-tokens)">,
    Option<"maxSeqLen", "max-seq-len", "int64_t", "2048",
           "Positions per sequence">,
    Option<"maxSequences", "max-sequences", "int64_t", "8",
           "Sequence slots in the KV cache">,
    Option<"kvBlockSize", "kv-block-size", "int64_t", "16",
           "Positions per KV-cache block">,
    Option<"reuse", "reuse", "bool", "true",
           "Let tensors with disjoint live ranges share arena bytes">,
    Option<"deviceMemory", "device-memory", "int64_t", "0",
           "Bytes of device memory the plan must fit (0: no limit)">,
  ];
}

def BloomTierMemory : Pass<"bloom-tier-memory", "mlir::ModuleOp"> {
  let summary = "Places weight units on device, host or disk; streams the offloaded ones.";
  let description = [{
    Runs after --bloom-plan-memory, whose `bloom.memory` gives what stays on
    the device first: the KV cache, the arena and the workspace. Weights are
    grouped into units by name: one per transformer layer (`h.N.*` →
    "h.N"), the embedding (`word_embeddings*` → "embedding") and the head
    (`ln_f.*`, an untied `lm_head.weight` → "head"). A unit is packed in
    first-use order, each weight at a 256-byte-aligned offset, and its size
    rounded up to 4096. The tied LM head reads the embedding's table, so the
    "embedding" unit is visited twice per step (at the first op and at the
    LM head) and, if offloaded, streamed twice.

    If everything fits `device-memory`, nothing changes. Otherwise units
    leave the device, cheapest first by the cost model: streaming a unit
    costs visits × bytes / link bandwidth (host: `h2d-bandwidth`; disk: the
    slower of `disk-bandwidth` and `h2d-bandwidth`, the copy being staged
    through pinned host memory). Layers (one visit) go before the tied
    embedding (two); equal layers are taken evenly spread over the step so
    that each copy overlaps resident layers' compute. Streamed units rotate
    through `slots` device slots, each as large as the largest streamed
    unit, and the slots count against the device; every candidate slot size
    (each distinct unit size) is tried and the cheapest plan kept.
    Offloaded units fill `host-memory`, the most visited first, then the
    disk (`disk-budget`; a disk unit also needs `slots` × slot bytes of
    pinned host staging, counted against `host-memory`). `offload=host|disk`
    forces every unit to that tier (tests). A plan that cannot fit is an
    error with the numbers and what would fit.

    Offloaded unit k (in first-use order) streams into slot k mod `slots`.
    Each visit gets `bloom.prefetch_weights` right after the last op of the
    slot's previous visit (at the start of the step for a slot's first
    visit) and `bloom.await_weights` right before its first op, so a copy
    runs `slots` − 1 units ahead of its use. Streamed weights get
    `bloom.stream_unit` and `bloom.slot_offset`; the module gets
    `bloom.tiering`: units (name, residency, bytes, visits, slot, disk file
    offset), slots, bytes per tier and the expected decode step time
    (resident bytes / `device-bandwidth` + streamed bytes / link bandwidth)
    for report.json.

    Before (device budget for one of two layers):
    ```mlir
    %q0 = bloom.weight "h.0.self_attention.query_key_value.weight" : tensor<24x8xf32>
    %a0 = bloom.alibi_attention %n, %q0, ... loc("h.0.attn_context")
    ...
    %q1 = bloom.weight "h.1.self_attention.query_key_value.weight" : tensor<24x8xf32>
    %a1 = bloom.alibi_attention %m, %q1, ... loc("h.1.attn_context")
    ```
    After:
    ```mlir
    bloom.prefetch_weights "h.1"
    %q0 = bloom.weight "h.0.self_attention.query_key_value.weight" : tensor<24x8xf32>
    %a0 = bloom.alibi_attention %n, %q0, ...
    ...
    %q1 = bloom.weight "h.1.self_attention.query_key_value.weight"
            {bloom.slot_offset = 0 : i64, bloom.stream_unit = "h.1"} : tensor<24x8xf32>
    bloom.await_weights "h.1"
    %a1 = bloom.alibi_attention %m, %q1, ...
    ```
  }];
  let options = [
    Option<"deviceMemory", "device-memory", "int64_t", "0",
           "Bytes of device memory (0: no limit)">,
    Option<"hostMemory", "host-memory", "int64_t", "-1",
           "Bytes of pinned host memory for weights (-1: no limit, 0: no host tier)">,
    Option<"diskBudget", "disk-budget", "int64_t", "0",
           "Bytes of disk for weight units (0: no disk tier, -1: no limit)">,
    Option<"slots", "slots", "int64_t", "2",
           "Device slots streamed units rotate through (at least 2)">,
    Option<"offload", "offload", "std::string", "\"\"",
           "Force every weight unit to this tier: host or disk (tests)">,
    Option<"deviceBandwidth", "device-bandwidth", "double", "3.0e12",
           "Device memory read bandwidth, bytes/s">,
    Option<"h2dBandwidth", "h2d-bandwidth", "double", "25.0e9",
           "Pinned host to device bandwidth, bytes/s">,
    Option<"diskBandwidth", "disk-bandwidth", "double", "3.0e9",
           "Disk to pinned host bandwidth, bytes/s">,
    Option<"unitsFile", "units-file", "std::string", "\"weight_units.bin\"",
           "The disk units' file, relative to the plan directory">,
  ];
}

def BloomLowerToPlan : Pass<"bloom-lower-to-plan", "mlir::ModuleOp"> {
  let summary = "Lowers the bloom graph to a plan program.";
  let description = [{
    Rewrites `func.func @step` of the `bloom` dialect into one
    `plan.program`. It accepts only ops with plan kernels (otherwise:
    "bloom.softmax has no kernel; run --bloom-fuse first"), each with a
    precision (--bloom-assign-precision) and arena offsets
    (--bloom-plan-memory), whose module attribute `bloom.memory` gives the
    program its limits, KV cache and arena size.

    - the four step arguments become `plan.input`s with roles token_ids,
      positions, sequence_slots and logit_rows;
    - each `bloom.weight` becomes a `plan.weight` (a tied weight stays one
      tensor) of its storage type;
    - each computing op gets a `plan.buffer` per result at its planned
      offset, named after its location, and becomes its kernel with
      `compute`/`accumulate` from its precision: `embedding` →
      embedding_gather, `lm_head` → linear without bias, `add_layer_norm` →
      add_layer_norm (two results), `linear epilogue gelu` → linear with the
      gelu epilogue, `alibi_attention` → a linear into its qkv buffer, then
      alibi_attention; the others to the kernel of the same name. The
      returned value's buffer gets role logits.
    - a pipeline stage (`bloom.pp_stage` of `bloom.pp_size`, from
      --bloom-partition-pp) has its own interface (plan.fbs's
      Plan.pp_stage): a later stage's first argument, the hidden state
      [T, hidden], becomes the `plan.input` with role hidden_in instead of
      token_ids; a stage before the last has no logit_rows argument and its
      returned value, one row per token, gets role hidden_out instead of
      logits. The program records `pipeline_stage(stage = S, size = M)`.

    Before:
    ```mlir
    func.func @step(%ids: tensor<?xi32>, ...) -> tensor<?x256xf32> {
      %t = bloom.weight "word_embeddings.weight" : tensor<256x64xf32>
      %e = bloom.embedding %ids, %t {bloom.arena_offsets = array<i64: 256>, precision = ...}
             : (...) -> tensor<?x64xf32> loc("embeddings")
      ...
    }
    ```
    After:
    ```mlir
    plan.program "tiny" checkpoint "" eos_token_id = 2 limits(...) kv_cache(...)
        arena_bytes = ... {
      %ids = plan.input "token_ids" token_ids at 0 : memref<?xi32>
      ...
      %t = plan.weight "word_embeddings.weight" : memref<256x64xf32>
      %e = plan.buffer "embeddings" tokens at 256 : memref<?x64xf32>
      plan.embedding_gather ins(%ids, %t : ...) outs(%e : memref<?x64xf32>) {...}
      ...
    }
    ```
  }];
  let dependentDialects = ["::bloom::plan_ir::PlanDialect"];
}

#endif  // BLOOM_COMPILER_PASSES_TD
