// Attributes and types of the `bloom` dialect: an op's precision, the
// linear epilogue, and the value that stands for one layer's KV cache.
#ifndef BLOOM_DIALECT_BLOOM_ATTRS_TD
#define BLOOM_DIALECT_BLOOM_ATTRS_TD

include "dialects/Bloom/BloomDialect.td"
include "mlir/IR/EnumAttr.td"

def Bloom_PrecisionAttr : AttrDef<Bloom_Dialect, "Precision"> {
  let mnemonic = "precision";
  let summary = "The arithmetic and accumulation types of one op.";
  let description = [{
    Set by `--bloom-assign-precision` on every op but `bloom.weight`. The
    op reads its operands in their storage types (their element types),
    computes in `compute`, accumulates (dot products, layer-norm statistics,
    softmax sums) in `accumulate`, and rounds each result to its storage
    type. These become plan.fbs's Instruction.compute and .accumulate.

    ```mlir
    #bloom.precision<compute = bf16, accumulate = f32>
    ```
  }];
  let parameters = (ins "::mlir::Type":$compute, "::mlir::Type":$accumulate);
  let assemblyFormat = [{
    `<` `compute` `=` $compute `,` `accumulate` `=` $accumulate `>`
  }];
  let genVerifyDecl = 1;
}

def Bloom_Epilogue : I32EnumAttr<"Epilogue",
    "what a linear applies to its result before storing it", [
  I32EnumAttrCase<"Gelu", 1, "gelu">,
]> {
  let cppNamespace = "::bloom::graph";
}

def Bloom_KvCacheType : TypeDef<Bloom_Dialect, "KvCache"> {
  let mnemonic = "kv_cache";
  let summary = "One layer's paged KV cache, after this step's append.";
  let description = [{
    The value `bloom.kv_cache_append` returns: the layer's keys and values
    of every sequence slot, this step's tokens included, stored as
    `elementType`. It orders the reads of attention after the append.

    ```mlir
    !bloom.kv_cache<heads = 4, head_dim = 16, f32>
    ```
  }];
  let parameters = (ins "int64_t":$numHeads, "int64_t":$headDim,
                        "::mlir::Type":$elementType);
  let assemblyFormat = [{
    `<` `heads` `=` $numHeads `,` `head_dim` `=` $headDim `,` $elementType `>`
  }];
}

#endif  // BLOOM_DIALECT_BLOOM_ATTRS_TD
