#include "compiler/Pipeline.h"

#include "compiler/Passes.h"

namespace bloom {

void BuildLowerToPlanPipeline(mlir::OpPassManager& pm,
                              const PipelineOptions& options) {
  BloomLowerToPlanOptions lower;
  lower.maxBatchTokens = options.max_batch_tokens;
  lower.maxSeqLen = options.max_seq_len;
  lower.maxSequences = options.max_sequences;
  pm.addPass(createBloomLowerToPlan(lower));
}

}  // namespace bloom
