// Operations of the `bloom` dialect. Shapes use T for the packed batch's
// token count (dynamic, `?`), R for the rows whose logits are wanted, H for
// the hidden size, V for the vocabulary, N for heads and D for head_dim.
//
// Every op but bloom.weight has an optional `precision`
// (#bloom.precision<compute = ..., accumulate = ...>), absent until
// --bloom-assign-precision sets it; lowering refuses an op without it.
#ifndef BLOOM_DIALECT_BLOOM_OPS_TD
#define BLOOM_DIALECT_BLOOM_OPS_TD

include "dialects/Bloom/BloomDialect.td"
include "dialects/Bloom/BloomAttrs.td"
include "mlir/IR/CommonAttrConstraints.td"

def Bloom_Precision : OptionalAttr<Bloom_PrecisionAttr>;

def Bloom_WeightOp : Bloom_Op<"weight", [Pure]> {
  let summary = "A weight tensor of the checkpoint.";
  let description = [{
    Names one checkpoint tensor by its canonical graph name (the bare
    bigscience spelling, e.g. `h.0.input_layernorm.weight`). When the graph
    was built against a checkpoint, the op also records where the tensor is
    stored: the shard `file` (relative to the checkpoint directory), the
    `tensor` name inside it (which may carry a `transformer.` prefix) and
    the `stored_dtype`. Graphs built from a config alone (shapes only) leave
    the source out. The result type is the tensor as the plan keeps it in
    memory (its storage type, which precision assignment chooses); the
    runtime converts from `stored_dtype` when it loads the weight.

    After tensor-parallel partitioning a weight may be a contiguous `slice`
    of the stored tensor along one dimension: indices [begin, end) of
    dimension `dim`; the result type is the slice's shape (a rank reads only
    those bytes).

    ```mlir
    %w = bloom.weight "h.0.input_layernorm.weight"
           from "model.safetensors" ["transformer.h.0.input_layernorm.weight"] bf16
           : tensor<64xf32>
    %u = bloom.weight "ln_f.weight" : tensor<64xbf16>
    %q = bloom.weight "h.0.self_attention.query_key_value.weight"
           slice(dim = 0, begin = 96, end = 192) : tensor<96x64xf32>
    ```
  }];
  let arguments = (ins
    StrAttr:$name,
    OptionalAttr<StrAttr>:$file,
    OptionalAttr<StrAttr>:$tensor,
    OptionalAttr<TypeAttrOf<Bloom_Float>>:$stored_dtype,
    OptionalAttr<I64Attr>:$slice_dim,
    OptionalAttr<I64Attr>:$slice_begin,
    OptionalAttr<I64Attr>:$slice_end);
  // i8/i4: the values of a quantized weight, and i8 its zero points
  // (--bloom-quantize-weights; read only through bloom.dequantize).
  let results = (outs StaticShapeTensorOf<[F32, F16, BF16, I8, I<4>]>:$result);
  let assemblyFormat = [{
    $name (`from` $file^ ` ` `[` $tensor `]` $stored_dtype)?
    (`slice` `(` `dim` `=` $slice_dim^ `,` `begin` `=` $slice_begin `,` `end` `=` $slice_end `)`)?
    attr-dict `:` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    // True when the op records where the tensor is stored.
    bool hasSource() { return getFile().has_value(); }
    // True when the op is a slice of the stored tensor.
    bool hasSlice() { return getSliceDim().has_value(); }
  }];
}

def Bloom_DequantizeOp : Bloom_Op<"dequantize", [Pure]> {
  let summary = "A quantized weight read as floats: values, scales, zero points.";
  let description = [{
    What `--bloom-quantize-weights` puts between a linear weight and its
    users. The weight is [M, K] (rows are output channels) and
    `result[o][i] = scales[o][i / g] * (values[o][i] - zero_points[o][i / g])`,
    g = `group_size` along the input dimension (0: one group per row, i.e.
    per output channel), zero points 0 when absent (symmetric). Scales and
    zero points are [M, K / g] ([M, 1] per channel), as
    runtime/support/quantized_storage.h stores them. The op holds no
    memory of its own: no arena buffer is planned for its result, and the
    kernels that read the result are to dequantize inside the weight read.

    ```mlir
    %q = bloom.weight "h.0.mlp.dense_4h_to_h.weight" : tensor<64x256xi4>
    %s = bloom.weight "h.0.mlp.dense_4h_to_h.weight.scales" : tensor<64x2xf16>
    %z = bloom.weight "h.0.mlp.dense_4h_to_h.weight.zero_points" : tensor<64x2xi8>
    %w = bloom.dequantize %q, %s zero_points %z {group_size = 128 : i64}
           : (tensor<64x256xi4>, tensor<64x2xf16>, tensor<64x2xi8>) -> tensor<64x256xf32>
    ```
  }];
  let arguments = (ins 2DTensorOf<[I8, I<4>]>:$values,
                       2DTensorOf<[F16, BF16, F32]>:$scales,
                       Optional<2DTensorOf<[I8]>>:$zero_points,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$group_size,
                       Bloom_Precision:$precision);
  let results = (outs Bloom_Matrix:$result);
  let assemblyFormat = [{
    $values `,` $scales (`zero_points` $zero_points^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Bloom_EmbeddingOp : Bloom_Op<"embedding", [Pure]> {
  let summary = "Looks up each token's row of the embedding table.";
  let description = [{
    `result[t] = table[ids[t]]`.

    Vocab-parallel (after --bloom-partition-tp): the table holds rows
    [vocab_begin, vocab_begin + rows) of a `vocab_size` vocabulary; an id
    outside that range gives a zero row, and a bloom.all_reduce afterwards
    sums the ranks' rows into the lookup.

    ```mlir
    %e = bloom.embedding %ids, %table
           : (tensor<?xi32>, tensor<250880x1024xf32>) -> tensor<?x1024xf32>
    %p = bloom.embedding %ids, %half {vocab_begin = 125440 : i64, vocab_size = 250880 : i64}
           : (tensor<?xi32>, tensor<125440x1024xf32>) -> tensor<?x1024xf32>
    ```
  }];
  let arguments = (ins Bloom_IndexVector:$ids, Bloom_Matrix:$table,
                       OptionalAttr<I64Attr>:$vocab_begin,
                       OptionalAttr<I64Attr>:$vocab_size,
                       Bloom_Precision:$precision);
  let results = (outs Bloom_RowsTensor:$result);
  let assemblyFormat = [{
    $ids `,` $table attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Bloom_LayerNormOp : Bloom_Op<"layer_norm", [Pure]> {
  let summary = "Layer normalisation over the last dimension.";
  let description = [{
    `y = (x - mean(x)) / sqrt(var(x) + epsilon) * gamma + beta`, row by row,
    with the biased variance as torch.nn.LayerNorm.

    ```mlir
    %y = bloom.layer_norm %x, %gamma, %beta {epsilon = 1.0e-05 : f32}
           : (tensor<?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Bloom_RowsTensor:$x, Bloom_Vector:$gamma,
                       Bloom_Vector:$beta, F32Attr:$epsilon,
                       Bloom_Precision:$precision);
  let results = (outs Bloom_RowsTensor:$result);
  let assemblyFormat = [{
    $x `,` $gamma `,` $beta attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Bloom_AddLayerNormOp : Bloom_Op<"add_layer_norm", [Pure]> {
  let summary = "Residual addition followed by layer normalisation.";
  let description = [{
    `sum = a + b; normed = layer_norm(sum, gamma, beta, epsilon)`, with the
    statistics taken from the sum as computed (before rounding it to its
    storage type). Both results are values: a pre-LN block carries `sum` on
    as the next residual, a post-LN block carries `normed`. `a`, `b` and
    `sum` share one type; `normed` may be stored in another.

    ```mlir
    %sum, %normed = bloom.add_layer_norm %a, %b, %gamma, %beta {epsilon = 1.0e-05 : f32}
           : (tensor<?x64xf32>, tensor<?x64xf32>, tensor<64xf32>, tensor<64xf32>)
             -> (tensor<?x64xf32>, tensor<?x64xf32>)
    ```
  }];
  let arguments = (ins Bloom_RowsTensor:$a, Bloom_RowsTensor:$b,
                       Bloom_Vector:$gamma, Bloom_Vector:$beta,
                       F32Attr:$epsilon, Bloom_Precision:$precision);
  let results = (outs Bloom_RowsTensor:$sum, Bloom_RowsTensor:$normed);
  let assemblyFormat = [{
    $a `,` $b `,` $gamma `,` $beta attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Bloom_LinearOp : Bloom_Op<"linear", [Pure]> {
  let summary = "Affine map with a weight in [out, in] layout, and an epilogue.";
  let description = [{
    `y = epilogue(x · weightᵀ + bias)`, the weight laid out [M, K] as
    checkpoints store it; the bias is optional, and so is the epilogue
    (`gelu`: BLOOM's tanh GELU, which `--bloom-fuse` folds in).

    ```mlir
    %y = bloom.linear %x, %w, %b
           : (tensor<?x64xf32>, tensor<192x64xf32>, tensor<192xf32>) -> tensor<?x192xf32>
    %u = bloom.linear %x, %w4, %b4 epilogue gelu
           : (tensor<?x64xf32>, tensor<256x64xf32>, tensor<256xf32>) -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins Bloom_RowsTensor:$x, Bloom_Matrix:$weight,
                       Optional<Bloom_Vector>:$bias,
                       OptionalAttr<Bloom_Epilogue>:$epilogue,
                       Bloom_Precision:$precision);
  let results = (outs Bloom_RowsTensor:$result);
  let assemblyFormat = [{
    $x `,` $weight (`,` $bias^)? (`epilogue` $epilogue^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Bloom_GeluOp : Bloom_Op<"gelu", [Pure, SameOperandsAndResultType]> {
  let summary = "GELU, tanh approximation (BLOOM's bloom_gelu_forward).";
  let description = [{
    `y = 0.5 x (1 + tanh(0.79788456 x (1 + 0.044715 x²)))`.

    ```mlir
    %y = bloom.gelu %x : tensor<?x256xf32>
    ```
  }];
  let arguments = (ins Bloom_RowsTensor:$x, Bloom_Precision:$precision);
  let results = (outs Bloom_RowsTensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($result)";
}

def Bloom_AddOp : Bloom_Op<"add", [Pure, SameOperandsAndResultType]> {
  let summary = "Elementwise sum (residual connections).";
  let description = [{
    ```mlir
    %s = bloom.add %a, %b : tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Bloom_RowsTensor:$lhs, Bloom_RowsTensor:$rhs,
                       Bloom_Precision:$precision);
  let results = (outs Bloom_RowsTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}

def Bloom_CastOp : Bloom_Op<"cast", [Pure]> {
  let summary = "Converts a tensor to another storage type.";
  let description = [{
    Same shape, element type converted (round to nearest even).
    `--bloom-assign-precision` inserts casts where an op needs an operand in
    a storage type other than the one it was produced in; a cast to the same
    type folds away, and `--bloom-fuse` removes a pair that cancels.

    ```mlir
    %y = bloom.cast %x : tensor<?x64xf32> to tensor<?x64xbf16>
    ```
  }];
  let arguments = (ins Bloom_RowsTensor:$x, Bloom_Precision:$precision);
  let results = (outs Bloom_RowsTensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `to` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Attention, unfused: what the graph builder emits, one step of
// transformers' BloomAttention each, over the packed batch and paged cache.
//===----------------------------------------------------------------------===//

def Bloom_SplitHeadsOp : Bloom_Op<"split_heads", [Pure]> {
  let summary = "Splits a fused QKV projection into q, k and v per head.";
  let description = [{
    Each row of `qkv` is laid out [num_heads, 3, head_dim] (the layout of
    BLOOM's query_key_value weight): `q[t, n, d] = qkv[t, (3n + 0) D + d]`,
    `k[t, n, d] = qkv[t, (3n + 1) D + d]`, `v[t, n, d] = qkv[t, (3n + 2) D + d]`.

    ```mlir
    %q, %k, %v = bloom.split_heads %qkv {num_heads = 4 : i64, head_dim = 16 : i64}
           : tensor<?x192xf32> -> tensor<?x4x16xf32>, tensor<?x4x16xf32>, tensor<?x4x16xf32>
    ```
  }];
  let arguments = (ins Bloom_RowsTensor:$qkv,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads,
                       ConfinedAttr<I64Attr, [IntPositive]>:$head_dim,
                       Bloom_Precision:$precision);
  let results = (outs Bloom_HeadsTensor:$q, Bloom_HeadsTensor:$k,
                      Bloom_HeadsTensor:$v);
  let assemblyFormat = [{
    $qkv attr-dict `:` type($qkv) `->` type($q) `,` type($k) `,` type($v)
  }];
  let hasVerifier = 1;
}

def Bloom_KvCacheAppendOp : Bloom_Op<"kv_cache_append", [
    MemoryEffects<[MemRead<Bloom_KvCacheResource>,
                   MemWrite<Bloom_KvCacheResource>]>]> {
  let summary = "Stores this step's keys and values in one layer's cache.";
  let description = [{
    For every token t: `K[layer][sequence_slots[t]][positions[t]] = k[t]`,
    likewise V. Returns the layer's cache as it is after the append, which
    the attention ops read.

    ```mlir
    %cache = bloom.kv_cache_append %k, %v, %positions, %slots {layer = 0 : i64}
           : (tensor<?x4x16xf32>, tensor<?x4x16xf32>, tensor<?xi32>, tensor<?xi32>)
             -> !bloom.kv_cache<heads = 4, head_dim = 16, f32>
    ```
  }];
  let arguments = (ins Bloom_HeadsTensor:$k, Bloom_HeadsTensor:$v,
                       Bloom_IndexVector:$positions,
                       Bloom_IndexVector:$sequence_slots,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$layer,
                       Bloom_Precision:$precision);
  let results = (outs Bloom_KvCacheType:$cache);
  let assemblyFormat = [{
    $k `,` $v `,` $positions `,` $sequence_slots attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Bloom_AttentionScoresOp : Bloom_Op<"attention_scores", [
    MemoryEffects<[MemRead<Bloom_KvCacheResource>]>]> {
  let summary = "Scaled dot products of each query with its sequence's keys.";
  let description = [{
    `scores[t, n, j] = scale * q[t, n] · K[sequence_slots[t]][j][n]` for every
    cached position j of the token's sequence (the last dimension, `?`,
    runs over positions 0 .. max_seq_len - 1; positions not yet written are
    masked by bloom.causal_mask).

    ```mlir
    %s = bloom.attention_scores %q, %cache, %slots {scale = 0.25 : f32}
           : (tensor<?x4x16xf32>, !bloom.kv_cache<heads = 4, head_dim = 16, f32>, tensor<?xi32>)
             -> tensor<?x4x?xf32>
    ```
  }];
  let arguments = (ins Bloom_HeadsTensor:$q, Bloom_KvCacheType:$cache,
                       Bloom_IndexVector:$sequence_slots, F32Attr:$scale,
                       Bloom_Precision:$precision);
  let results = (outs Bloom_HeadsTensor:$scores);
  let assemblyFormat = [{
    $q `,` $cache `,` $sequence_slots attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Bloom_AlibiBiasOp : Bloom_Op<"alibi_bias", [Pure]> {
  let summary = "Adds ALiBi's linear position bias to attention scores.";
  let description = [{
    `result[t, n, j] = scores[t, n, j] + alibi_slopes[n] * j`, as
    transformers' build_alibi_tensor + baddbmm (the bias depends on the key
    position only; softmax makes that equal to a relative bias).

    ```mlir
    %b = bloom.alibi_bias %s {alibi_slopes = array<f32: 0.25, 0.0625>}
           : tensor<?x2x?xf32> -> tensor<?x2x?xf32>
    ```
  }];
  let arguments = (ins Bloom_HeadsTensor:$scores, DenseF32ArrayAttr:$alibi_slopes,
                       Bloom_Precision:$precision);
  let results = (outs Bloom_HeadsTensor:$result);
  let assemblyFormat = "$scores attr-dict `:` type($scores) `->` type($result)";
  let hasVerifier = 1;
}

def Bloom_CausalMaskOp : Bloom_Op<"causal_mask", [Pure]> {
  let summary = "Masks keys after each token's own position.";
  let description = [{
    `result[t, n, j] = j <= positions[t] ? scores[t, n, j] : -inf`.

    ```mlir
    %m = bloom.causal_mask %b, %positions : (tensor<?x2x?xf32>, tensor<?xi32>) -> tensor<?x2x?xf32>
    ```
  }];
  let arguments = (ins Bloom_HeadsTensor:$scores, Bloom_IndexVector:$positions,
                       Bloom_Precision:$precision);
  let results = (outs Bloom_HeadsTensor:$result);
  let assemblyFormat = [{
    $scores `,` $positions attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Bloom_SoftmaxOp : Bloom_Op<"softmax", [Pure]> {
  let summary = "Softmax over the key dimension.";
  let description = [{
    `result[t, n, j] = exp(s[t, n, j] - m) / Σ_j' exp(s[t, n, j'] - m)`,
    m the row maximum.

    ```mlir
    %p = bloom.softmax %m : tensor<?x2x?xf32> -> tensor<?x2x?xf32>
    ```
  }];
  let arguments = (ins Bloom_HeadsTensor:$scores, Bloom_Precision:$precision);
  let results = (outs Bloom_HeadsTensor:$result);
  let assemblyFormat = "$scores attr-dict `:` type($scores) `->` type($result)";
  let hasVerifier = 1;
}

def Bloom_AttentionContextOp : Bloom_Op<"attention_context", [
    MemoryEffects<[MemRead<Bloom_KvCacheResource>]>]> {
  let summary = "Weighted sum of each sequence's cached values.";
  let description = [{
    `context[t, n] = Σ_j probs[t, n, j] * V[sequence_slots[t]][j][n]`.

    ```mlir
    %c = bloom.attention_context %p, %cache, %slots
           : (tensor<?x4x?xf32>, !bloom.kv_cache<heads = 4, head_dim = 16, f32>, tensor<?xi32>)
             -> tensor<?x4x16xf32>
    ```
  }];
  let arguments = (ins Bloom_HeadsTensor:$probs, Bloom_KvCacheType:$cache,
                       Bloom_IndexVector:$sequence_slots,
                       Bloom_Precision:$precision);
  let results = (outs Bloom_HeadsTensor:$context);
  let assemblyFormat = [{
    $probs `,` $cache `,` $sequence_slots attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Bloom_MergeHeadsOp : Bloom_Op<"merge_heads", [Pure]> {
  let summary = "Concatenates the heads of each token.";
  let description = [{
    `result[t, n * D + d] = x[t, n, d]`.

    ```mlir
    %c = bloom.merge_heads %x : tensor<?x4x16xf32> -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Bloom_HeadsTensor:$x, Bloom_Precision:$precision);
  let results = (outs Bloom_RowsTensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Attention, fused.
//===----------------------------------------------------------------------===//

def Bloom_AlibiAttentionOp : Bloom_Op<"alibi_attention", [
    MemoryEffects<[MemRead<Bloom_KvCacheResource>,
                   MemWrite<Bloom_KvCacheResource>]>]> {
  let summary = "BLOOM self-attention with its QKV projection, over the paged KV cache.";
  let description = [{
    What `--bloom-fuse` makes of the unfused chain linear → split_heads →
    kv_cache_append → attention_scores (scale 1/sqrt(head_dim)) → alibi_bias
    → causal_mask → softmax → attention_context → merge_heads:
    `qkv = x · qkv_weightᵀ + qkv_bias` laid out [num_heads, 3, head_dim] per
    row; each token's key and value go to (sequence slot, position) of
    layer `layer`'s cache; each token attends to positions 0..position of
    its own sequence with score `q·k / sqrt(head_dim) + alibi_slopes[n] *
    key_position`. The result is the context, heads concatenated:
    [T, num_heads * head_dim].

    Lowering makes two plan instructions of it: a Linear into an internal
    qkv buffer, stored as `qkv_storage` (the KV cache's type; f32 when
    absent) with `qkv_precision`, then AlibiAttention with `precision`.

    ```mlir
    %c = bloom.alibi_attention %x, %w bias %b, %positions, %slots
           {layer = 0 : i64, num_heads = 4 : i64, head_dim = 16 : i64,
            alibi_slopes = array<f32: 0.25, 0.0625, 0.015625, 0.00390625>}
           : (tensor<?x64xf32>, tensor<192x64xf32>, tensor<192xf32>, tensor<?xi32>, tensor<?xi32>)
             -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Bloom_RowsTensor:$x, Bloom_Matrix:$qkv_weight,
                       Optional<Bloom_Vector>:$qkv_bias,
                       Bloom_IndexVector:$positions,
                       Bloom_IndexVector:$sequence_slots,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$layer,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads,
                       ConfinedAttr<I64Attr, [IntPositive]>:$head_dim,
                       DenseF32ArrayAttr:$alibi_slopes,
                       OptionalAttr<TypeAttrOf<Bloom_Float>>:$qkv_storage,
                       Bloom_Precision:$qkv_precision,
                       Bloom_Precision:$precision);
  let results = (outs Bloom_RowsTensor:$result);
  let assemblyFormat = [{
    $x `,` $qkv_weight (`bias` $qkv_bias^)? `,` $positions `,` $sequence_slots
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    // The storage type of the internal qkv buffer and of the KV cache.
    ::mlir::Type getQkvStorageType() {
      return getQkvStorage() ? *getQkvStorage()
                             : ::mlir::Type(::mlir::Float32Type::get(getContext()));
    }
  }];
}

def Bloom_GatherRowsOp : Bloom_Op<"gather_rows", [Pure]> {
  let summary = "Selects the rows whose logits are wanted.";
  let description = [{
    `result[r] = x[rows[r]]`; `rows` indexes the packed batch's T tokens.

    ```mlir
    %g = bloom.gather_rows %x, %rows
           : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Bloom_RowsTensor:$x, Bloom_IndexVector:$rows,
                       Bloom_Precision:$precision);
  let results = (outs Bloom_RowsTensor:$result);
  let assemblyFormat = [{
    $x `,` $rows attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Bloom_LmHeadOp : Bloom_Op<"lm_head", [Pure]> {
  let summary = "Projects hidden states to vocabulary logits.";
  let description = [{
    `logits = x · weightᵀ`, no bias; `weight` is [V, H], usually the same
    `bloom.weight` value as the embedding table (tied).

    ```mlir
    %l = bloom.lm_head %x, %table
           : (tensor<?x64xf32>, tensor<256x64xf32>) -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins Bloom_RowsTensor:$x, Bloom_Matrix:$weight,
                       Bloom_Precision:$precision);
  let results = (outs Bloom_RowsTensor:$result);
  let assemblyFormat = [{
    $x `,` $weight attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Collectives: what --bloom-partition-tp inserts. Every rank's graph has the
// same collectives in the same order; `num_ranks` is the group's size.
//===----------------------------------------------------------------------===//

def Bloom_AllReduceOp : Bloom_Op<"all_reduce", [SameOperandsAndResultType]> {
  let summary = "Sums a tensor over the tensor-parallel ranks.";
  let description = [{
    `result = Σ_rank x` (elementwise, in f32), the same value on every rank.
    Follows each row-parallel linear (partial products of the hidden size)
    and the vocab-parallel embedding (each token's row lives on one rank).
    Not Pure: a collective must not be removed, merged or reordered.

    ```mlir
    %s = bloom.all_reduce %partial : tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Bloom_RowsTensor:$x, Bloom_Precision:$precision);
  let results = (outs Bloom_RowsTensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($result)";
}

def Bloom_AllGatherOp : Bloom_Op<"all_gather"> {
  let summary = "Concatenates the ranks' tensors along the last dimension.";
  let description = [{
    `result[:, r·C + c] = x_r[:, c]` for rank r of `num_ranks`, C the
    columns of x: the vocab-parallel LM head's local logits become the full
    logits on every rank.

    ```mlir
    %l = bloom.all_gather %local {num_ranks = 2 : i64}
           : tensor<?x128xf32> -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins Bloom_RowsTensor:$x,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_ranks,
                       Bloom_Precision:$precision);
  let results = (outs Bloom_RowsTensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Memory tiering (--bloom-tier-memory): streaming offloaded weight units.
//===----------------------------------------------------------------------===//

def Bloom_PrefetchWeightsOp : Bloom_Op<"prefetch_weights"> {
  let summary = "Starts streaming an offloaded weight unit into its slot.";
  let description = [{
    Inserted by --bloom-tier-memory: starts copying the weight unit `unit`
    (an entry of the module's `bloom.tiering` units) from host memory or
    disk into its device slot, overlapping the ops that follow. Placed
    after the last op that reads the slot's previous occupant. No operands
    or results; not Pure (it must stay where it is).

    ```mlir
    bloom.prefetch_weights "h.3"
    ```
  }];
  let arguments = (ins StrAttr:$unit);
  let assemblyFormat = "$unit attr-dict";
}

def Bloom_AwaitWeightsOp : Bloom_Op<"await_weights"> {
  let summary = "Waits until an offloaded weight unit is in its slot.";
  let description = [{
    Inserted by --bloom-tier-memory right before the first op of a visit
    to an offloaded unit (a run of ops reading its weights): the unit's
    prefetch must have completed before those weights are read.

    ```mlir
    bloom.await_weights "h.3"
    ```
  }];
  let arguments = (ins StrAttr:$unit);
  let assemblyFormat = "$unit attr-dict";
}

#endif  // BLOOM_DIALECT_BLOOM_OPS_TD
