// The CPU backend's op interface: one CpuOp per plan instruction, made once
// by the op table (cpu_op_table.h) when the executor is created, run at
// every step. An op holds what it derived from the plan (parameters, ALiBi
// slopes, the vocabulary range of its rank) and calls kernels/cpu.
//
// Precision (DESIGN.md, decision 8): the kernels compute in float32, so an
// op reads each floating operand through PrecisionScratch::Widen (F16 and
// BF16 are widened into float32 scratch) and writes each result into
// PrecisionScratch::Output; the executor then rounds every result to its
// storage dtype with Narrow. The logits of a reduced-precision plan depend
// on exactly this order, so every op goes through these helpers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/comm/communicator.h"
#include "runtime/exec/kv_cache.h"
#include "runtime/plan/plan_generated.h"

namespace bloom {

// An instruction's operand or result, resolved to memory at a step.
struct ResolvedOperand {
  const plan::Tensor* tensor;
  void* data;
  int64_t rows;              // current row count
  plan::DType memory_dtype;  // how `data` is stored (weights are kept as F32 on the CPU)
};

// What one step gives an op: its instruction's resolved tensors and the
// executor's state that ops share.
struct CpuOpArgs {
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

// Float32 views of operands and results. One per executor, shared by its
// ops: a view's scratch is reused by the next instruction, so it holds at
// most one instruction's widened tensors at a time. Slots number an
// instruction's operands (0, 1, ...) and, separately, its results.
class PrecisionScratch {
 public:
  // `operand` as float32: its own memory when stored as F32, else a copy
  // widened into scratch slot `slot`. An operand stored in a dtype the CPU
  // cannot read as float (I32, or a dtype it does not know yet) is an error.
  absl::StatusOr<const float*> Widen(const ResolvedOperand& operand, size_t slot);
  // Where the op writes `result` (result number `slot`) in float32: the
  // result's own memory when stored as F32, else scratch that Narrow rounds
  // into it.
  absl::StatusOr<float*> Output(const ResolvedOperand& result, size_t slot);
  // Rounds result number `slot`, written through Output, to its storage
  // dtype (round to nearest even). Nothing to do for F32.
  absl::Status Narrow(const ResolvedOperand& result, size_t slot);

 private:
  std::vector<float>& Buffer(std::vector<std::vector<float>>& buffers, size_t slot);

  std::vector<std::vector<float>> operands_;
  std::vector<std::vector<float>> results_;
};

// An I32 operand's values (token ids, positions, slots, row indices); an
// error for an operand stored in any other dtype.
absl::StatusOr<const int32_t*> Int32Values(const ResolvedOperand& operand);

class CpuOp {
 public:
  virtual ~CpuOp() = default;

  // Computes the instruction's results through `scratch` (Widen, Output);
  // the caller narrows them afterwards. Fails only on data-dependent
  // problems that plan validation cannot see (a token id outside the
  // vocabulary), on a failed collective (a peer rank failed or timed out),
  // and on an operand dtype the CPU cannot read.
  virtual absl::Status Run(const CpuOpArgs& args, PrecisionScratch& scratch) = 0;
};

}  // namespace bloom
