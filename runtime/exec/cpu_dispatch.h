// The CPU backend's kernel dispatch: runs one plan instruction with the
// reference kernels of kernels/cpu. The executor resolves memory and row
// counts; this file only maps a plan kernel to a kernel call.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "runtime/exec/kv_cache.h"
#include "runtime/plan/plan_generated.h"

namespace bloom {

// An instruction's operands and results, resolved to memory.
struct ResolvedOperand {
  const plan::Tensor* tensor;
  void* data;
  int64_t rows;  // current row count
};

struct InstructionArgs {
  std::vector<ResolvedOperand> operands;
  std::vector<ResolvedOperand> results;
  KvCache* kv_cache;
};

// Runs `instruction` on the CPU. Fails only on data-dependent problems that
// plan validation cannot see (a token id outside the vocabulary).
absl::Status RunOnCpu(const plan::Instruction& instruction, const InstructionArgs& args);

}  // namespace bloom
