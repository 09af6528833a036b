// The `bloom` dialect: a BLOOM model as a graph of whole-model operations on
// builtin ranked tensors, as models/bloom/graph builds it from a checkpoint.
#ifndef BLOOM_DIALECT_BLOOM_DIALECT_TD
#define BLOOM_DIALECT_BLOOM_DIALECT_TD

include "mlir/IR/OpBase.td"
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
    later stage can name buffers after them.

    Element types are f32 for now; precision assignment is a later pass.
  }];
}

// The paged KV cache that alibi_attention reads and appends to. Modelled as a
// side-effect resource so that attention ops are neither CSE'd nor DCE'd and
// keep their order.
def Bloom_KvCacheResource : Resource<"::bloom::graph::KvCacheResource">;

class Bloom_Op<string mnemonic, list<Trait> traits = []>
    : Op<Bloom_Dialect, mnemonic, traits>;

// A tensor of one token per row: tensor<?xHxf32> (or a static row count).
def Bloom_RowsTensor : 2DTensorOf<[F32]>;
def Bloom_IndexVector : 1DTensorOf<[I32]>;

#endif  // BLOOM_DIALECT_BLOOM_DIALECT_TD
