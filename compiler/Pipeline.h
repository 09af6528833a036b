// The pass pipeline that bloom-compile runs from the imported bloom graph to
// the plan: fuse → partition-pp (pp > 1: this stage's layers) →
// partition-tp (tp > 1: this rank's graph) →
// quantize-weights (int8/int4 weights) → assign-precision → plan-memory →
// tier-memory (when tiering) → lower.
#pragma once

#include <cstdint>
#include <string>

#include "mlir/Pass/PassManager.h"

namespace bloom {

// Where the pipeline may stop (bloom-compile --emit=...), in order.
// kPartition is --bloom-partition-pp then --bloom-partition-tp (each
// nothing at pp = 1, respectively tp = 1), kQuantize
// --bloom-quantize-weights (nothing for bf16 weights), kTier
// --bloom-tier-memory (nothing without tiering).
enum class PipelineStage {
  kImport,
  kFuse,
  kPartition,
  kQuantize,
  kPrecision,
  kMemory,
  kTier,
  kPlan
};

struct PipelineOptions {
  std::string policy = "fp32";  // fp32, bf16 or fp16
  int64_t max_batch_tokens = 512;
  int64_t max_logit_rows = 0;   // 0: min(max_sequences, max_batch_tokens)
  int64_t max_seq_len = 2048;
  int64_t max_sequences = 8;
  int64_t device_memory = 0;    // bytes; 0: no limit
  int64_t tp_size = 1;          // tensor-parallel ranks; 1: no partitioning
  int64_t tp_rank = 0;          // the rank whose plan this pipeline makes
  int64_t pp_size = 1;          // pipeline stages; 1: no cut
  int64_t pp_stage = 0;         // the stage whose plan this pipeline makes
  bool replicate_vocab = false; // tp does not divide the vocabulary
  // Weight storage: "bf16" or "none" (as the policy stores them: no
  // quantization), "int8" (per channel) or "int4" (per group).
  std::string weights = "bf16";
  int64_t group_size = 128;  // int4: input columns per scale
  bool quantize_lm_head = false;
  // With quantize_lm_head: the LM head's storage, "int8" or "int4" ("": as
  // `weights`), e.g. int4 blocks with an int8 head.
  std::string lm_head_weights;
  // Memory tiering (--bloom-tier-memory). Off: every weight on the device
  // and --bloom-plan-memory checks device_memory. On: the tier pass checks
  // it, offloading weights as the budgets allow.
  bool tiering = false;
  int64_t host_memory = -1;  // -1: no limit; 0: no host tier
  int64_t disk_budget = 0;   // 0: no disk tier; -1: no limit
  int64_t weight_slots = 2;
  std::string offload;       // "", "host" or "disk"
  double device_bandwidth = 3.0e12, h2d_bandwidth = 25.0e9, disk_bandwidth = 3.0e9;
  std::string units_file = "weight_units.bin";  // relative to the plan directory
};

// True for the weight formats --bloom-quantize-weights makes (int8, int4).
bool IsQuantized(llvm::StringRef weights);

// Appends the passes from a `bloom` graph module up to and including
// `last` (kImport adds none).
void BuildPipeline(mlir::OpPassManager& pm, const PipelineOptions& options,
                   PipelineStage last);

}  // namespace bloom
