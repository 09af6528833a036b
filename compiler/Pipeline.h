// The pass pipeline that bloom-compile runs from the bloom graph to the plan.
#pragma once

#include <cstdint>

#include "mlir/Pass/PassManager.h"

namespace bloom {

struct PipelineOptions {
  int64_t max_batch_tokens = 512;
  int64_t max_seq_len = 2048;
  int64_t max_sequences = 8;
};

// Appends the passes from a `bloom` graph module to a `plan.program`.
void BuildLowerToPlanPipeline(mlir::OpPassManager& pm,
                              const PipelineOptions& options);

}  // namespace bloom
