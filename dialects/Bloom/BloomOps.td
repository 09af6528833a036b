// Operations of the `bloom` dialect. Shapes use T for the packed batch's
// token count (dynamic, `?`), R for the rows whose logits are wanted, H for
// the hidden size, V for the vocabulary.
#ifndef BLOOM_DIALECT_BLOOM_OPS_TD
#define BLOOM_DIALECT_BLOOM_OPS_TD

include "dialects/Bloom/BloomDialect.td"
include "mlir/IR/CommonAttrConstraints.td"

def Bloom_StoredDType : AnyTypeOf<[F32, F16, BF16]>;

def Bloom_WeightOp : Bloom_Op<"weight", [Pure]> {
  let summary = "A weight tensor of the checkpoint.";
  let description = [{
    Names one checkpoint tensor by its canonical graph name (the bare
    bigscience spelling, e.g. `h.0.input_layernorm.weight`). When the graph
    was built against a checkpoint, the op also records where the tensor is
    stored: the shard `file` (relative to the checkpoint directory), the
    `tensor` name inside it (which may carry a `transformer.` prefix) and
    the `stored_dtype`. Graphs built from a config alone (shapes only) leave
    the source out. The result is the tensor as the graph computes with it.

    ```mlir
    %w = bloom.weight "h.0.input_layernorm.weight"
           from "model.safetensors" ["transformer.h.0.input_layernorm.weight"] bf16
           : tensor<64xf32>
    %u = bloom.weight "ln_f.weight" : tensor<64xf32>
    ```
  }];
  let arguments = (ins
    StrAttr:$name,
    OptionalAttr<StrAttr>:$file,
    OptionalAttr<StrAttr>:$tensor,
    OptionalAttr<TypeAttrOf<Bloom_StoredDType>>:$stored_dtype);
  let results = (outs StaticShapeTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $name (`from` $file^ ` ` `[` $tensor `]` $stored_dtype)? attr-dict `:` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    // True when the op records where the tensor is stored.
    bool hasSource() { return getFile().has_value(); }
  }];
}

def Bloom_EmbeddingOp : Bloom_Op<"embedding", [Pure]> {
  let summary = "Looks up each token's row of the embedding table.";
  let description = [{
    `result[t] = table[ids[t]]`.

    ```mlir
    %e = bloom.embedding %ids, %table
           : (tensor<?xi32>, tensor<250880x1024xf32>) -> tensor<?x1024xf32>
    ```
  }];
  let arguments = (ins Bloom_IndexVector:$ids, 2DTensorOf<[F32]>:$table);
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
  let arguments = (ins Bloom_RowsTensor:$x, 1DTensorOf<[F32]>:$gamma,
                       1DTensorOf<[F32]>:$beta, F32Attr:$epsilon);
  let results = (outs Bloom_RowsTensor:$result);
  let assemblyFormat = [{
    $x `,` $gamma `,` $beta attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Bloom_LinearOp : Bloom_Op<"linear", [Pure]> {
  let summary = "Affine map with a weight in [out, in] layout.";
  let description = [{
    `y = x · weightᵀ + bias`, the weight laid out [M, K] as checkpoints store
    it; the bias is optional.

    ```mlir
    %y = bloom.linear %x, %w, %b
           : (tensor<?x64xf32>, tensor<192x64xf32>, tensor<192xf32>) -> tensor<?x192xf32>
    ```
  }];
  let arguments = (ins Bloom_RowsTensor:$x, 2DTensorOf<[F32]>:$weight,
                       Optional<1DTensorOf<[F32]>>:$bias);
  let results = (outs Bloom_RowsTensor:$result);
  let assemblyFormat = [{
    $x `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)
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
  let arguments = (ins Bloom_RowsTensor:$x);
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
  let arguments = (ins Bloom_RowsTensor:$lhs, Bloom_RowsTensor:$rhs);
  let results = (outs Bloom_RowsTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}

def Bloom_AlibiAttentionOp : Bloom_Op<"alibi_attention", [
    MemoryEffects<[MemRead<Bloom_KvCacheResource>,
                   MemWrite<Bloom_KvCacheResource>]>]> {
  let summary = "Causal self-attention with ALiBi over the paged KV cache.";
  let description = [{
    Splits each row of `qkv` into heads laid out [num_heads, 3, head_dim]
    (the layout of BLOOM's fused query_key_value), stores each token's key
    and value at (sequence slot, position) of layer `layer`'s cache, then
    lets each token attend to positions 0..position of its own sequence with
    score `q·k / sqrt(head_dim) + alibi_slopes[head] * key_position`. The
    result is the context, heads concatenated: [T, num_heads * head_dim].

    The op reads and writes the KV cache (a side-effect resource), so it is
    never folded away, merged or reordered with another attention op.

    ```mlir
    %c = bloom.alibi_attention %qkv, %positions, %slots
           {layer = 0 : i64, num_heads = 4 : i64, head_dim = 16 : i64,
            alibi_slopes = array<f32: 0.25, 0.0625, 0.015625, 0.00390625>}
           : (tensor<?x192xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Bloom_RowsTensor:$qkv, Bloom_IndexVector:$positions,
                       Bloom_IndexVector:$sequence_slots,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$layer,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads,
                       ConfinedAttr<I64Attr, [IntPositive]>:$head_dim,
                       DenseF32ArrayAttr:$alibi_slopes);
  let results = (outs Bloom_RowsTensor:$result);
  let assemblyFormat = [{
    $qkv `,` $positions `,` $sequence_slots attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
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
  let arguments = (ins Bloom_RowsTensor:$x, Bloom_IndexVector:$rows);
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
  let arguments = (ins Bloom_RowsTensor:$x, 2DTensorOf<[F32]>:$weight);
  let results = (outs Bloom_RowsTensor:$result);
  let assemblyFormat = [{
    $x `,` $weight attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

#endif  // BLOOM_DIALECT_BLOOM_OPS_TD
