// The compiler's passes; bloom-opt runs them one at a time, bloom-compile as
// a pipeline (see Pipeline.h).
#ifndef BLOOM_COMPILER_PASSES_TD
#define BLOOM_COMPILER_PASSES_TD

include "mlir/Pass/PassBase.td"

def BloomLowerToPlan : Pass<"bloom-lower-to-plan", "mlir::ModuleOp"> {
  let summary = "Lowers the bloom graph to a plan with static buffers.";
  let description = [{
    Rewrites `func.func @step` of the `bloom` dialect into one
    `plan.program`:

    - the four step arguments become `plan.input`s with roles token_ids,
      positions, sequence_slots and logit_rows;
    - each `bloom.weight` becomes a `plan.weight` (a tied weight stays one
      tensor);
    - each computing op gets a `plan.buffer` for its result, named after the
      op's NameLoc, and becomes its kernel op (`bloom.embedding` to
      embedding_gather, `bloom.lm_head` to linear without bias, the others
      to the kernel of the same name); the returned value's buffer gets role
      logits.

    Buffers are assigned STATICALLY: every per-token tensor (and every
    logit-row tensor, as R <= T) has room for `max-batch-tokens` rows, and
    offsets are bump-allocated in declaration order, each aligned to 64
    bytes. Nothing is reused yet: liveness-based reuse of arena space is a
    later pass, and would only change offsets and the arena size.

    The KV cache takes its layers, heads and head_dim from the attention
    ops; it has `max-sequences * ceil(max-seq-len / kv-block-size)` blocks of
    `kv-block-size` positions, in f32.

    Before:
    ```mlir
    func.func @step(%ids: tensor<?xi32>, ...) -> tensor<?x256xf32> {
      %t = bloom.weight "word_embeddings.weight" : tensor<256x64xf32>
      %e = bloom.embedding %ids, %t : (...) -> tensor<?x64xf32> loc("embeddings")
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
      plan.embedding_gather ins(%ids, %t : ...) outs(%e : memref<?x64xf32>)
      ...
    }
    ```
  }];
  let dependentDialects = ["::bloom::plan_ir::PlanDialect"];
  let options = [
    Option<"maxBatchTokens", "max-batch-tokens", "int64_t", "512",
           "Tokens per step (T); sizes every per-token buffer">,
    Option<"maxSeqLen", "max-seq-len", "int64_t", "2048",
           "Positions per sequence">,
    Option<"maxSequences", "max-sequences", "int64_t", "8",
           "Sequence slots in the KV cache">,
    Option<"kvBlockSize", "kv-block-size", "int64_t", "16",
           "Positions per KV-cache block">,
  ];
}

#endif  // BLOOM_COMPILER_PASSES_TD
