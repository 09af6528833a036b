#include "runtime/cpu/cpu_op_table.h"

#include "absl/status/status.h"
#include "runtime/cpu/ops/cpu_ops.h"

namespace bloom {

absl::StatusOr<std::unique_ptr<CpuOp>> MakeCpuOp(const plan::Plan& plan,
                                                 const plan::Instruction& instruction) {
  // No default branch: -Werror=switch names a kernel that has no op here.
  switch (instruction.kernel_type()) {
    case plan::Kernel::EmbeddingGather:
      return cpu_ops::MakeEmbeddingGatherOp(plan, instruction);
    case plan::Kernel::LayerNorm:
      return cpu_ops::MakeLayerNormOp(plan, instruction);
    case plan::Kernel::Linear:
      return cpu_ops::MakeLinearOp(plan, instruction);
    case plan::Kernel::Gelu:
      return cpu_ops::MakeGeluOp(plan, instruction);
    case plan::Kernel::Add:
      return cpu_ops::MakeAddOp(plan, instruction);
    case plan::Kernel::AlibiAttention:
      return cpu_ops::MakeAlibiAttentionOp(plan, instruction);
    case plan::Kernel::GatherRows:
      return cpu_ops::MakeGatherRowsOp(plan, instruction);
    case plan::Kernel::AddLayerNorm:
      return cpu_ops::MakeAddLayerNormOp(plan, instruction);
    case plan::Kernel::Cast:
      return cpu_ops::MakeCastOp(plan, instruction);
    case plan::Kernel::AllReduce:
      return cpu_ops::MakeAllReduceOp(plan, instruction);
    case plan::Kernel::AllGather:
      return cpu_ops::MakeAllGatherOp(plan, instruction);
    case plan::Kernel::PrefetchWeights:
    case plan::Kernel::AwaitWeights:
      return nullptr;  // the executor's weight streamer runs these
    case plan::Kernel::NONE:
      break;
  }
  // ValidatePlan rejects instructions without a known kernel before this.
  return absl::InternalError("an instruction without a kernel the CPU backend knows");
}

}  // namespace bloom
