// The CPU ops, one file each under runtime/cpu/ops, named after the plan
// kernel they run. Each Make*Op reads its instruction's parameters once;
// only the op table (cpu_op_table.cpp) calls them, with an instruction of
// that kernel from a validated plan.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/cpu/cpu_op.h"
#include "runtime/plan/plan_generated.h"

namespace bloom::cpu_ops {

using OpOrError = absl::StatusOr<std::unique_ptr<CpuOp>>;

OpOrError MakeEmbeddingGatherOp(const plan::Plan& plan, const plan::Instruction& instruction);
OpOrError MakeLayerNormOp(const plan::Plan& plan, const plan::Instruction& instruction);
OpOrError MakeLinearOp(const plan::Plan& plan, const plan::Instruction& instruction);
OpOrError MakeGeluOp(const plan::Plan& plan, const plan::Instruction& instruction);
OpOrError MakeAddOp(const plan::Plan& plan, const plan::Instruction& instruction);
OpOrError MakeAlibiAttentionOp(const plan::Plan& plan, const plan::Instruction& instruction);
OpOrError MakeGatherRowsOp(const plan::Plan& plan, const plan::Instruction& instruction);
OpOrError MakeAddLayerNormOp(const plan::Plan& plan, const plan::Instruction& instruction);
OpOrError MakeCastOp(const plan::Plan& plan, const plan::Instruction& instruction);
OpOrError MakeAllReduceOp(const plan::Plan& plan, const plan::Instruction& instruction);
OpOrError MakeAllGatherOp(const plan::Plan& plan, const plan::Instruction& instruction);

}  // namespace bloom::cpu_ops
