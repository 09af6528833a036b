// The `plan` dialect: the executable level that plan.bplan serializes.
#ifndef BLOOM_DIALECT_PLAN_DIALECT_TD
#define BLOOM_DIALECT_PLAN_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Plan_Dialect : Dialect {
  let name = "plan";
  let cppNamespace = "::bloom::plan_ir";
  let summary = "A straight-line program of kernel calls on arena buffers.";
  let description = [{
    The level that runtime/plan/plan.fbs serializes, op for op. A
    `plan.program` holds the plan's limits, KV-cache shape and arena size;
    its body declares tensors and calls kernels:

    - `plan.weight` declares a checkpoint tensor (where it is stored);
    - `plan.input` declares a per-step input written by the host, with its
      role and its offset in the activation arena;
    - `plan.buffer` declares an activation at a fixed arena offset;
    - one op per kernel of plan.fbs (`plan.embedding_gather`,
      `plan.layer_norm`, `plan.linear`, `plan.gelu`, `plan.add`,
      `plan.alibi_attention`, `plan.gather_rows`) reads its `ins` and writes
      its `outs` buffer (destination-passing style).

    Tensors are builtin memrefs: the type carries the element type and the
    shape, with a dynamic leading dimension for per-token (`tokens`) or
    per-logit-row (`logit_rows`) tensors, whose room in the arena is sized
    for the program's `max_batch_tokens` rows. Builtin memrefs rather than a
    custom buffer type keep the IR readable with standard tooling; where a
    tensor lives (arena offset, checkpoint source) is an attribute of the op
    that declares it, so the declaration order of those ops is the plan
    file's tensor order.
  }];
}

// The paged KV cache that alibi_attention appends to and reads.
def Plan_KvCacheResource : Resource<"::bloom::plan_ir::KvCacheResource">;

class Plan_Op<string mnemonic, list<Trait> traits = []>
    : Op<Plan_Dialect, mnemonic, traits>;

#endif  // BLOOM_DIALECT_PLAN_DIALECT_TD
