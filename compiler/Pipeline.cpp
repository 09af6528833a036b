#include "compiler/Pipeline.h"

#include "compiler/Passes.h"

namespace bloom {

void BuildPipeline(mlir::OpPassManager& pm, const PipelineOptions& options,
                   PipelineStage last) {
  if (last >= PipelineStage::kFuse) pm.addPass(createBloomFuse());
  if (last >= PipelineStage::kPrecision) {
    BloomAssignPrecisionOptions precision;
    precision.policy = options.policy;
    pm.addPass(createBloomAssignPrecision(precision));
  }
  if (last >= PipelineStage::kMemory) {
    BloomPlanMemoryOptions memory;
    memory.maxBatchTokens = options.max_batch_tokens;
    memory.maxLogitRows = options.max_logit_rows;
    memory.maxSeqLen = options.max_seq_len;
    memory.maxSequences = options.max_sequences;
    memory.deviceMemory = options.device_memory;
    pm.addPass(createBloomPlanMemory(memory));
  }
  if (last >= PipelineStage::kPlan) pm.addPass(createBloomLowerToPlan());
}

}  // namespace bloom
