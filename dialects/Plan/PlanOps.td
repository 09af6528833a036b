// Operations of the `plan` dialect. Each kernel op's `ins` and `outs` are, in
// order, the operand and result lists of the plan.fbs Instruction it becomes.
#ifndef BLOOM_DIALECT_PLAN_OPS_TD
#define BLOOM_DIALECT_PLAN_OPS_TD

include "dialects/Plan/PlanDialect.td"
include "dialects/Plan/PlanEnums.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/OpBase.td"

def Plan_NonNegativeI64 : ConfinedAttr<I64Attr, [IntNonNegative]>;
def Plan_PositiveI64 : ConfinedAttr<I64Attr, [IntPositive]>;

//===----------------------------------------------------------------------===//
// The program and its tensors.
//===----------------------------------------------------------------------===//

def Plan_ProgramOp : Plan_Op<"program", [
    IsolatedFromAbove, NoTerminator, SingleBlock]> {
  let summary = "One step function over a packed token batch.";
  let description = [{
    The whole plan: the limits it was compiled for (per-token tensors have
    room for `max_batch_tokens` rows, logit-row tensors for `max_logit_rows`), the paged KV cache's
    shape (per layer, K and V pools of [blocks, heads, block_size, head_dim]),
    the activation arena's size in bytes, where the checkpoint lives and the
    generation defaults. A tensor-parallel plan says which rank of how many
    it is (`tensor_parallel(rank = R, size = N)`; absent: rank 0 of 1), a
    pipeline stage which stage of how many
    (`pipeline_stage(stage = S, size = M)`; absent: stage 0 of 1; its roles
    follow, see plan.fbs's Plan.pp_stage, and the verifier refuses a role
    the stage does not have). A
    plan with offloaded weights (--bloom-tier-memory) has a ring of
    `weight_slots(count = S, bytes = B)` device slots; its verifier checks
    the slot discipline: every read of a streamed weight lies between its
    unit's `plan.await_weights` and the next `plan.prefetch_weights` into the
    same slot, and every await follows a prefetch of its unit. The body declares tensors (`plan.weight`,
    `plan.input`, `plan.buffer`) and calls kernels, in execution order.

    ```mlir
    plan.program "bloom-tiny" checkpoint "/models/tiny" eos_token_id = 2
        limits(max_batch_tokens = 8, max_logit_rows = 2, max_seq_len = 32,
               max_sequences = 2)
        kv_cache(layers = 1, heads = 4, head_dim = 16, block_size = 16,
                 blocks = 4, dtype = f32)
        arena_bytes = 4096 {
      %ids = plan.input "token_ids" token_ids at 0 : memref<?xi32>
      ...
    }
    ```
  }];
  let arguments = (ins
    StrAttr:$model_name,
    StrAttr:$checkpoint_dir,
    I64Attr:$eos_token_id,
    Plan_PositiveI64:$max_batch_tokens,
    Plan_PositiveI64:$max_logit_rows,
    Plan_PositiveI64:$max_seq_len,
    Plan_PositiveI64:$max_sequences,
    Plan_NonNegativeI64:$kv_num_layers,
    Plan_PositiveI64:$kv_num_heads,
    Plan_PositiveI64:$kv_head_dim,
    Plan_PositiveI64:$kv_block_size,
    Plan_NonNegativeI64:$kv_num_blocks,
    TypeAttrOf<AnyTypeOf<[F32, F16, BF16]>>:$kv_dtype,
    Plan_NonNegativeI64:$arena_bytes,
    OptionalAttr<I64Attr>:$tp_rank,
    OptionalAttr<I64Attr>:$tp_size,
    OptionalAttr<Plan_PositiveI64>:$num_weight_slots,
    OptionalAttr<Plan_PositiveI64>:$weight_slot_bytes,
    OptionalAttr<I64Attr>:$pp_stage,
    OptionalAttr<I64Attr>:$pp_size);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $model_name `checkpoint` $checkpoint_dir `eos_token_id` `=` $eos_token_id
    `limits` `(` `max_batch_tokens` `=` $max_batch_tokens `,`
                 `max_logit_rows` `=` $max_logit_rows `,`
                 `max_seq_len` `=` $max_seq_len `,`
                 `max_sequences` `=` $max_sequences `)`
    `kv_cache` `(` `layers` `=` $kv_num_layers `,` `heads` `=` $kv_num_heads `,`
                   `head_dim` `=` $kv_head_dim `,` `block_size` `=` $kv_block_size `,`
                   `blocks` `=` $kv_num_blocks `,` `dtype` `=` $kv_dtype `)`
    `arena_bytes` `=` $arena_bytes
    (`tensor_parallel` `(` `rank` `=` $tp_rank^ `,` `size` `=` $tp_size `)`)?
    (`weight_slots` `(` `count` `=` $num_weight_slots^ `,` `bytes` `=` $weight_slot_bytes `)`)?
    (`pipeline_stage` `(` `stage` `=` $pp_stage^ `,` `size` `=` $pp_size `)`)?
    attr-dict-with-keyword $body
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    // Rows a tensor with a dynamic leading dimension has room for.
    int64_t capacityRows(::bloom::plan_ir::RowDim rows);
    // The tensor-parallel group: rank 0 of 1 when not partitioned.
    int64_t tpRank() { return getTpRank() ? *getTpRank() : 0; }
    int64_t tpSize() { return getTpSize() ? *getTpSize() : 1; }
    // The pipeline: stage 0 of 1 when not cut into stages.
    int64_t ppStage() { return getPpStage() ? *getPpStage() : 0; }
    int64_t ppSize() { return getPpSize() ? *getPpSize() : 1; }
    // Whether this stage has a tensor of `role` (plan.fbs, Plan.pp_stage):
    // the first stage reads token_ids, a later one hidden_in; the last
    // writes logits (and reads logit_rows), an earlier one hidden_out.
    bool stageHasRole(::bloom::plan_ir::TensorRole role);
  }];
}

def Plan_Float : AnyTypeOf<[F32, F16, BF16]>;

def Plan_WeightOp : Plan_Op<"weight", [Pure, HasParent<"ProgramOp">]> {
  let summary = "A checkpoint tensor, loaded once, read-only.";
  let description = [{
    Declares a Weight tensor: its graph name and where the checkpoint stores
    it (shard file relative to the program's checkpoint directory, tensor
    name inside the file, stored element type). The result type is the
    tensor as the kernels read it (its storage type in memory, chosen by the
    precision policy); the runtime converts from the stored type on load. A plan
    compiled without a checkpoint (shapes only) has no source and cannot be
    serialized.

    A `slice` is a contiguous range [begin, end) of one dimension of the
    stored tensor (plan.fbs's WeightSource.slice_*): the rank loads only
    those bytes, and the result type is the slice's shape.

    `stream "UNIT" at OFFSET` marks an offloaded weight (Tensor.stream_unit,
    slot_offset): it lives in the `plan.weight_unit` named UNIT, at byte
    OFFSET (a multiple of 256) of the unit's packed bytes and so of its
    slot, and is read only from the slot.

    `quantize(FORMAT, group = G, PART)` marks one of a quantized weight's
    three tensors (plan.fbs's QuantizeAtLoad; docs/quantization.md): the
    source names the float tensor (or its slice) that the runtime quantizes
    at load, FORMAT (`int8` per channel, G the input dimension; `int4` per
    group of G) says how, and PART which result this tensor is: the
    `values` (i8 or i4 [M, K]), the `scales` (f16 [M, K / G]) or the
    `zero_points` (i8 [M, K / G], int4 only). A weight stored quantized
    (written by --pack-weights) has a stored dtype of i8 or i4 (values) and
    no `quantize`.

    ```mlir
    %w = plan.weight "ln_f.weight" from "model.safetensors" ["ln_f.weight"] bf16
           : memref<64xf32>
    %q = plan.weight "h.0.mlp.dense_4h_to_h.weight" from "model.safetensors"
           ["h.0.mlp.dense_4h_to_h.weight"] bf16 quantize(int4, group = 128, values)
           : memref<64x256xi4>
    %s = plan.weight "h.0.mlp.dense_4h_to_h.weight.scales" from "model.safetensors"
           ["h.0.mlp.dense_4h_to_h.weight"] bf16 quantize(int4, group = 128, scales)
           : memref<64x2xf16>
    %d = plan.weight "h.0.self_attention.dense.weight" from "model.safetensors"
           ["h.0.self_attention.dense.weight"] bf16 slice(dim = 1, begin = 32, end = 64)
           : memref<64x32xf32>
    ```
  }];
  let arguments = (ins
    StrAttr:$name,
    OptionalAttr<StrAttr>:$file,
    OptionalAttr<StrAttr>:$tensor,
    OptionalAttr<TypeAttrOf<AnyTypeOf<[F32, F16, BF16, I8, I<4>]>>>:$stored_dtype,
    OptionalAttr<I64Attr>:$slice_dim,
    OptionalAttr<I64Attr>:$slice_begin,
    OptionalAttr<I64Attr>:$slice_end,
    OptionalAttr<Plan_WeightFormat>:$quantize_format,
    OptionalAttr<Plan_PositiveI64>:$group_size,
    OptionalAttr<Plan_QuantizedPart>:$part,
    OptionalAttr<StrAttr>:$stream_unit,
    OptionalAttr<I64Attr>:$slot_offset);
  let results = (outs StaticShapeMemRefOf<[F32, F16, BF16, I8, I<4>]>:$result);
  let assemblyFormat = [{
    $name (`from` $file^ ` ` `[` $tensor `]` $stored_dtype)?
    (`slice` `(` `dim` `=` $slice_dim^ `,` `begin` `=` $slice_begin `,` `end` `=` $slice_end `)`)?
    (`quantize` `(` $quantize_format^ `,` `group` `=` $group_size `,` $part `)`)?
    (`stream` $stream_unit^ `at` $slot_offset)?
    attr-dict `:` type($result)
  }];
  let hasVerifier = 1;
}

def Plan_WeightUnitOp : Plan_Op<"weight_unit", [HasParent<"ProgramOp">]> {
  let summary = "An offloaded group of weights, streamed as one block.";
  let description = [{
    plan.fbs's WeightUnit, in declaration order (the index that
    Tensor.stream_unit and PrefetchWeights/AwaitWeights use): where the unit
    lives between uses (`host` or `disk`), its packed size (a multiple of
    4096, each weight at its `stream ... at` offset in its storage type),
    the device slot it streams into, and for a disk unit the file (relative
    to the plan directory) and the 4096-aligned offset of its bytes.

    ```mlir
    plan.weight_unit "h.1" host bytes = 40960 slot = 1
    plan.weight_unit "h.2" disk bytes = 40960 slot = 0 file "weight_units.bin" offset 0
    ```
  }];
  let arguments = (ins StrAttr:$name, Plan_Residency:$residency,
                       Plan_PositiveI64:$bytes, Plan_NonNegativeI64:$slot,
                       OptionalAttr<StrAttr>:$file,
                       OptionalAttr<Plan_NonNegativeI64>:$file_offset);
  let assemblyFormat = [{
    $name $residency `bytes` `=` $bytes `slot` `=` $slot
    (`file` $file^ `offset` $file_offset)? attr-dict
  }];
  let hasVerifier = 1;
}

def Plan_InputOp : Plan_Op<"input", [Pure, HasParent<"ProgramOp">]> {
  let summary = "A per-step input that the host writes into the arena.";
  let description = [{
    Declares a StepInput tensor with its role (`token_ids`, `positions`,
    `sequence_slots`, `logit_rows` or `hidden_in`) and its byte offset in the
    arena. Token inputs have T rows, `logit_rows` has R; both have room for
    the program's `max_batch_tokens` elements. The i32 inputs are vectors;
    `hidden_in` (a later pipeline stage's residual stream) is [T, hidden]
    floats.

    ```mlir
    %p = plan.input "positions" positions at 64 : memref<?xi32>
    %h = plan.input "hidden_in" hidden_in at 128 : memref<?x64xbf16>
    ```
  }];
  let arguments = (ins StrAttr:$name, Plan_TensorRole:$role,
                       Plan_NonNegativeI64:$offset);
  let results = (outs AnyTypeOf<[MemRefRankOf<[I32], [1]>,
                                 MemRefRankOf<[F32, F16, BF16], [2]>]>:$result);
  let assemblyFormat = "$name $role `at` $offset attr-dict `:` type($result)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    // The dynamic dimension: R rows for logit_rows, T for the others.
    ::bloom::plan_ir::RowDim getRows();
  }];
}

def Plan_BufferOp : Plan_Op<"buffer", [Pure, HasParent<"ProgramOp">]> {
  let summary = "An activation at a fixed offset of the arena.";
  let description = [{
    Declares an Activation tensor: its graph name, which leading dimension
    varies per step (`static`, `tokens` or `logit_rows`; a varying one is
    `?` in the type and has room for `max_batch_tokens`, respectively
    `max_logit_rows`, rows), and its byte offset in the arena, a multiple of
    64. Buffers whose live ranges (first to last kernel that names them)
    are disjoint may share bytes; the program's verifier checks that no two
    buffers live at the same time overlap. Step inputs and the buffer with
    a role (the step's result: `logits`, or `hidden_out` on a pipeline
    stage before the last, [T, hidden]) are live for the whole step.

    ```mlir
    %n = plan.buffer "h.0.attn_norm" tokens at 256 : memref<?x64xf32>
    %l = plan.buffer "logits" logit_rows at 8192 role logits : memref<?x256xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, Plan_RowDim:$rows,
                       Plan_NonNegativeI64:$offset,
                       OptionalAttr<Plan_TensorRole>:$role);
  let results = (outs MemRefOf<[F32, F16, BF16]>:$result);
  let assemblyFormat = [{
    $name $rows `at` $offset (`role` $role^)? attr-dict `:` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Kernels: plan.fbs's Kernel union, one op each.
//===----------------------------------------------------------------------===//

// Every kernel may carry `compute` and `accumulate` (plan.fbs's
// Instruction.compute/.accumulate; f32 when absent). Operands are read in
// their own element types and results rounded to theirs.
class Plan_KernelOp<string mnemonic, dag params = (ins),
                    list<Trait> traits = []>
    : Plan_Op<mnemonic, !listconcat([HasParent<"ProgramOp">], traits)> {
  let arguments = !con(
      (ins Arg<Variadic<AnyMemRef>, "operands, in plan.fbs order",
               [MemRead]>:$ins,
           Arg<AnyMemRef, "the result buffer", [MemWrite]>:$out),
      params,
      (ins OptionalAttr<TypeAttrOf<Plan_Float>>:$compute,
           OptionalAttr<TypeAttrOf<Plan_Float>>:$accumulate));
  let assemblyFormat = [{
    `ins` `(` $ins `:` type($ins) `)` `outs` `(` $out `:` type($out) `)` attr-dict
  }];
  let hasVerifier = 1;
}

def Plan_EmbeddingGatherOp : Plan_KernelOp<"embedding_gather",
    (ins OptionalAttr<I64Attr>:$vocab_begin, OptionalAttr<I64Attr>:$vocab_size)> {
  let summary = "out[t] = table[token_ids[t]].";
  let description = [{
    ins: (token_ids[T] i32, table[V, H]); outs: (out[T, H]). Vocab-parallel
    (`vocab_begin`, `vocab_size`): the table is rows [vocab_begin,
    vocab_begin + V) of the full vocabulary; other ids give zero rows. A
    quantized table is (token_ids, values, scales [, zero_points]), as for
    plan.linear.

    ```mlir
    plan.embedding_gather ins(%ids, %table : memref<?xi32>, memref<256x64xf32>)
                          outs(%e : memref<?x64xf32>)
    ```
  }];
}

def Plan_LayerNormOp : Plan_KernelOp<"layer_norm", (ins F32Attr:$epsilon)> {
  let summary = "Row-wise layer normalisation.";
  let description = [{
    ins: (x[N, H], gamma[H], beta[H]); outs: (y[N, H]).

    ```mlir
    plan.layer_norm ins(%x, %g, %b : memref<?x64xf32>, memref<64xf32>, memref<64xf32>)
                    outs(%y : memref<?x64xf32>) {epsilon = 1.0e-05 : f32}
    ```
  }];
}

def Plan_LinearOp : Plan_KernelOp<"linear",
    (ins OptionalAttr<Plan_Epilogue>:$epilogue)> {
  let summary = "y = epilogue(x · weightᵀ (+ bias)), weight in [out, in] layout.";
  let description = [{
    ins: (x[N, K], weight[M, K] [, bias[M]]); outs: (y[N, M]). The optional
    `epilogue` (gelu) is applied before rounding to y's type. A quantized
    weight is its values and scales (and, for int4, zero points) in the
    weight's place: (x, values[M, K] i8|i4, scales[M, G] f16 [,
    zero_points[M, G] i8] [, bias[M]]), the group size K / G; the kernel
    computes as for the dequantized weight.

    ```mlir
    plan.linear ins(%x, %w, %b : memref<?x64xf32>, memref<192x64xf32>, memref<192xf32>)
                outs(%y : memref<?x192xf32>)
    ```
  }];
  let assemblyFormat = [{
    `ins` `(` $ins `:` type($ins) `)` `outs` `(` $out `:` type($out) `)`
    (`epilogue` $epilogue^)? attr-dict
  }];
}

def Plan_GeluOp : Plan_KernelOp<"gelu"> {
  let summary = "GELU, tanh approximation.";
  let description = [{
    ins: (x); outs: (y), same shape.

    ```mlir
    plan.gelu ins(%x : memref<?x256xf32>) outs(%y : memref<?x256xf32>)
    ```
  }];
}

def Plan_AddOp : Plan_KernelOp<"add"> {
  let summary = "Elementwise sum.";
  let description = [{
    ins: (a, b), same shape; outs: (sum).

    ```mlir
    plan.add ins(%a, %b : memref<?x64xf32>, memref<?x64xf32>) outs(%s : memref<?x64xf32>)
    ```
  }];
}

def Plan_AlibiAttentionOp : Plan_KernelOp<"alibi_attention",
    (ins Plan_NonNegativeI64:$layer, Plan_PositiveI64:$num_heads,
         Plan_PositiveI64:$head_dim, DenseF32ArrayAttr:$alibi_slopes),
    [MemoryEffects<[MemRead<Plan_KvCacheResource>,
                    MemWrite<Plan_KvCacheResource>]>]> {
  let summary = "Causal ALiBi self-attention over the paged KV cache.";
  let description = [{
    ins: (qkv[T, 3 * heads * head_dim] laid out [heads, 3, head_dim] per row,
    positions[T] i32, sequence_slots[T] i32); outs: (context[T, heads *
    head_dim]). Stores each token's K and V in layer `layer` of the cache,
    then attends over positions 0..position of the token's sequence.

    ```mlir
    plan.alibi_attention ins(%qkv, %pos, %slots : memref<?x192xf32>, memref<?xi32>, memref<?xi32>)
                         outs(%ctx : memref<?x64xf32>)
                         {layer = 0 : i64, num_heads = 4 : i64, head_dim = 16 : i64,
                          alibi_slopes = array<f32: 0.25, 0.0625, 0.015625, 0.00390625>}
    ```
  }];
}

def Plan_GatherRowsOp : Plan_KernelOp<"gather_rows"> {
  let summary = "out[r] = x[row_indices[r]].";
  let description = [{
    ins: (x[T, H], row_indices[R] i32); outs: (y[R, H]).

    ```mlir
    plan.gather_rows ins(%x, %rows : memref<?x64xf32>, memref<?xi32>)
                     outs(%y : memref<?x64xf32>)
    ```
  }];
}

def Plan_AddLayerNormOp : Plan_Op<"add_layer_norm", [HasParent<"ProgramOp">]> {
  let summary = "sum = a + b; normed = layer_norm(sum).";
  let description = [{
    ins: (a[N, H], b[N, H], gamma[H], beta[H]); outs: (sum[N, H],
    normed[N, H]). The statistics are those of the sum as computed, before
    rounding it to its type.

    ```mlir
    plan.add_layer_norm ins(%a, %b, %g, %be : memref<?x64xf32>, memref<?x64xf32>, memref<64xf32>, memref<64xf32>)
                        outs(%sum, %normed : memref<?x64xf32>, memref<?x64xbf16>)
                        {epsilon = 1.0e-05 : f32}
    ```
  }];
  let arguments = (ins
      Arg<Variadic<AnyMemRef>, "operands, in plan.fbs order", [MemRead]>:$ins,
      Arg<AnyMemRef, "the sum", [MemWrite]>:$sum,
      Arg<AnyMemRef, "the normalised sum", [MemWrite]>:$normed,
      F32Attr:$epsilon,
      OptionalAttr<TypeAttrOf<Plan_Float>>:$compute,
      OptionalAttr<TypeAttrOf<Plan_Float>>:$accumulate);
  let assemblyFormat = [{
    `ins` `(` $ins `:` type($ins) `)`
    `outs` `(` $sum `,` $normed `:` type($sum) `,` type($normed) `)` attr-dict
  }];
  let hasVerifier = 1;
}

def Plan_CastOp : Plan_KernelOp<"cast"> {
  let summary = "y = x converted to y's element type.";
  let description = [{
    ins: (x); outs: (y), same shape, any float types (round to nearest even).

    ```mlir
    plan.cast ins(%x : memref<?x64xf32>) outs(%y : memref<?x64xbf16>)
    ```
  }];
}

def Plan_AllReduceOp : Plan_KernelOp<"all_reduce"> {
  let summary = "y = sum over the tensor-parallel ranks of x.";
  let description = [{
    ins: (x); outs: (y), same type. Summed in f32; every rank runs the same
    collectives in the same order.

    ```mlir
    plan.all_reduce ins(%partial : memref<?x64xf32>) outs(%sum : memref<?x64xf32>)
    ```
  }];
}

def Plan_AllGatherOp : Plan_KernelOp<"all_gather"> {
  let summary = "y = the ranks' x side by side along the last dimension.";
  let description = [{
    ins: (x[N, C]); outs: (y[N, C * tp_size]), in rank order (the
    vocab-parallel LM head's logits).

    ```mlir
    plan.all_gather ins(%local : memref<?x128xf32>) outs(%logits : memref<?x256xf32>)
    ```
  }];
}

//===----------------------------------------------------------------------===//
// Weight streaming (plan.fbs's PrefetchWeights and AwaitWeights).
//===----------------------------------------------------------------------===//

def Plan_PrefetchWeightsOp : Plan_Op<"prefetch_weights", [HasParent<"ProgramOp">]> {
  let summary = "Starts copying a weight unit into its slot.";
  let description = [{
    Instruction PrefetchWeights{unit}: starts streaming the named
    `plan.weight_unit` into its slot (a copy stream on a GPU), overlapping
    the kernels that follow. From here until the unit's await, nothing
    reads the slot.

    ```mlir
    plan.prefetch_weights "h.2"
    ```
  }];
  let arguments = (ins StrAttr:$unit);
  let assemblyFormat = "$unit attr-dict";
  let hasVerifier = 1;
}

def Plan_AwaitWeightsOp : Plan_Op<"await_weights", [HasParent<"ProgramOp">]> {
  let summary = "Waits for a weight unit's copy before its weights are read.";
  let description = [{
    Instruction AwaitWeights{unit}: the unit's last prefetch has completed;
    its weights may be read from the slot until the next prefetch into the
    same slot.

    ```mlir
    plan.await_weights "h.2"
    ```
  }];
  let arguments = (ins StrAttr:$unit);
  let assemblyFormat = "$unit attr-dict";
  let hasVerifier = 1;
}

#endif  // BLOOM_DIALECT_PLAN_OPS_TD
