// The CPU backend's kernel dispatch: runs one plan instruction with the
// fp32 reference kernels of kernels/cpu. The executor resolves memory and
// row counts; this file maps a plan kernel to kernel calls and emulates the
// plan's storage precision (DESIGN.md, decision 8): operands stored in F16
// or BF16 are widened to float32 scratch, the kernel computes in float32 (or
// wider), and each result is rounded to its storage dtype.
//
// Tensor parallelism: collectives (AllReduce, AllGather) go through the
// rank's Communicator, in float32; a vocab-parallel embedding gives zero rows
// for ids outside its rank's rows.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "runtime/comm/communicator.h"
#include "runtime/exec/kv_cache.h"
#include "runtime/plan/plan_generated.h"

namespace bloom {

// An instruction's operand or result, resolved to memory.
struct ResolvedOperand {
  const plan::Tensor* tensor;
  void* data;
  int64_t rows;            // current row count
  plan::DType memory_dtype;  // how `data` is stored (weights are kept as F32 on the CPU)
};

struct InstructionArgs {
  std::vector<ResolvedOperand> operands;
  std::vector<ResolvedOperand> results;
  KvCache* kv_cache = nullptr;
  // The KV cache's block tables to use instead of kv_cache's own, or null: a
  // rank of a group whose slots and blocks are kept by the group's leader
  // (RankGroup) reads the leader's tables and keeps only its own pools.
  const int32_t* block_tables = nullptr;
  // The tensor-parallel group; null for a tp_size-1 plan, where AllReduce
  // and AllGather are copies.
  Communicator* comm = nullptr;
};

class CpuDispatch {
 public:
  // Runs `instruction`. Fails only on data-dependent problems that plan
  // validation cannot see (a token id outside the vocabulary) and on a
  // failed collective (a peer rank failed or timed out).
  absl::Status Run(const plan::Instruction& instruction, const InstructionArgs& args);

 private:
  // Float32 views of the operands and results, backed by scratch_ where the
  // memory dtype is not F32.
  const float* Widen(const ResolvedOperand& operand, size_t slot);
  float* Output(const ResolvedOperand& result, size_t slot);
  void Narrow(const ResolvedOperand& result, size_t slot);

  std::vector<std::vector<float>> scratch_;
  std::vector<float> gathered_;  // AllGather's rank-major buffer
};

}  // namespace bloom
