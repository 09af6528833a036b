// The `bloom` dialect: a BLOOM model as a graph of whole-model operations on
// builtin ranked tensors, as models/bloom/graph builds it from a checkpoint.
#ifndef BLOOM_DIALECT_BLOOM_DIALECT_TD
#define BLOOM_DIALECT_BLOOM_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Bloom_Dialect : Dialect {
  let name = "bloom";
  let cppNamespace = "::bloom::graph";
  let summary = "The BLOOM model graph on tensors.";
  let description = [{
    One step of a BLOOM model over a packed batch of T tokens (T is the
    dynamic leading dimension `?` of every per-token tensor). Weights are
    `bloom.weight` values naming the checkpoint tensor they come from; the
    layer structure is explicit: every block's layer norms, projections,
    attention and residual additions are separate ops whose location is a
    NameLoc carrying the tensor's graph name (`loc("h.3.attn_norm")`), so a
    later stage can name buffers after them. An op made by fusing several
    has a FusedLoc of their names: its i-th name belongs to its i-th result,
    then to its internal buffers (see TensorNames in BloomOps.h).

    The graph builder emits the unfused form (attention as split_heads,
    kv_cache_append, attention_scores, alibi_bias, causal_mask, softmax,
    attention_context, merge_heads); `--bloom-fuse` turns it into the ops
    that the runtime has kernels for. Element types are f32 until
    `--bloom-assign-precision` sets each tensor's storage type and each op's
    `precision` (compute and accumulate types).
  }];
  let useDefaultAttributePrinterParser = 1;
  let useDefaultTypePrinterParser = 1;
  let extraClassDeclaration = [{
    // In BloomAttrs.cpp, where the generated storage classes are complete.
    void registerAttributesAndTypes();
  }];
}

// The paged KV cache that attention reads and appends to. Modelled as a
// side-effect resource so that the ops touching it are neither CSE'd nor
// DCE'd and keep their order.
def Bloom_KvCacheResource : Resource<"::bloom::graph::KvCacheResource">;

class Bloom_Op<string mnemonic, list<Trait> traits = []>
    : Op<Bloom_Dialect, mnemonic, traits>;

// Storage element types of floating tensors.
def Bloom_Float : AnyTypeOf<[F32, F16, BF16]>;
// A tensor of one token per row: tensor<?xHxf32> (or a static row count).
def Bloom_RowsTensor : 2DTensorOf<[F32, F16, BF16]>;
// Per token and head: tensor<?xheadsxDxf32> (scores: tensor<?xheadsx?xf32>).
def Bloom_HeadsTensor : 3DTensorOf<[F32, F16, BF16]>;
def Bloom_Vector : 1DTensorOf<[F32, F16, BF16]>;
def Bloom_Matrix : 2DTensorOf<[F32, F16, BF16]>;
def Bloom_IndexVector : 1DTensorOf<[I32]>;

#endif  // BLOOM_DIALECT_BLOOM_DIALECT_TD
