// The pass pipeline that bloom-compile runs from the imported bloom graph to
// the plan: fuse → assign-precision → plan-memory → lower.
#pragma once

#include <cstdint>
#include <string>

#include "mlir/Pass/PassManager.h"

namespace bloom {

// Where the pipeline may stop (bloom-compile --emit=...), in order.
enum class PipelineStage { kImport, kFuse, kPrecision, kMemory, kPlan };

struct PipelineOptions {
  std::string policy = "fp32";  // fp32, bf16 or fp16
  int64_t max_batch_tokens = 512;
  int64_t max_logit_rows = 0;   // 0: min(max_sequences, max_batch_tokens)
  int64_t max_seq_len = 2048;
  int64_t max_sequences = 8;
  int64_t device_memory = 0;    // bytes; 0: no limit
};

// Appends the passes from a `bloom` graph module up to and including
// `last` (kImport adds none).
void BuildPipeline(mlir::OpPassManager& pm, const PipelineOptions& options,
                   PipelineStage last);

}  // namespace bloom
