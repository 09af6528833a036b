#include "compiler/Pipeline.h"

#include "compiler/Passes.h"

namespace bloom {

bool IsQuantized(llvm::StringRef weights) { return weights == "int8" || weights == "int4"; }

void BuildPipeline(mlir::OpPassManager& pm, const PipelineOptions& options,
                   PipelineStage last) {
  if (last >= PipelineStage::kFuse) pm.addPass(createBloomFuse());
  // After fusion (a fused add_layer_norm across a cut is split there), before
  // the tensor-parallel partition (which then splits the stage's layers; the
  // stage pass refuses a partitioned graph).
  if (last >= PipelineStage::kPartition && options.pp_size > 1) {
    BloomPartitionPpOptions partition;
    partition.pp = options.pp_size;
    partition.stage = options.pp_stage;
    pm.addPass(createBloomPartitionPp(partition));
  }
  // After fusion (whole heads of the fused attention; the gelu epilogue
  // marks the column-parallel MLP), before precision and memory (which then
  // see the collectives and count this rank's bytes).
  if (last >= PipelineStage::kPartition && options.tp_size > 1) {
    BloomPartitionTpOptions partition;
    partition.tp = options.tp_size;
    partition.rank = options.tp_rank;
    partition.replicateVocab = options.replicate_vocab;
    pm.addPass(createBloomPartitionTp(partition));
  }
  // After partitioning (each rank's slice is quantized, and checked against
  // the groups), before precision (which keeps the quantized storage).
  if (last >= PipelineStage::kQuantize && IsQuantized(options.weights)) {
    BloomQuantizeWeightsOptions quantize;
    quantize.weights = options.weights;
    quantize.groupSize = options.group_size;
    quantize.quantizeLmHead = options.quantize_lm_head;
    quantize.lmHeadWeights = options.lm_head_weights;
    pm.addPass(createBloomQuantizeWeights(quantize));
  }
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
    memory.deviceMemory = options.tiering ? 0 : options.device_memory;
    pm.addPass(createBloomPlanMemory(memory));
  }
  if (last >= PipelineStage::kTier && options.tiering) {
    BloomTierMemoryOptions tier;
    tier.deviceMemory = options.device_memory;
    tier.hostMemory = options.host_memory;
    tier.diskBudget = options.disk_budget;
    tier.slots = options.weight_slots;
    tier.offload = options.offload;
    tier.deviceBandwidth = options.device_bandwidth;
    tier.h2dBandwidth = options.h2d_bandwidth;
    tier.diskBandwidth = options.disk_bandwidth;
    tier.unitsFile = options.units_file;
    pm.addPass(createBloomTierMemory(tier));
  }
  if (last >= PipelineStage::kPlan) pm.addPass(createBloomLowerToPlan());
}

}  // namespace bloom
