#include "absl/strings/str_cat.h"
#include "runtime/cuda/cuda_status.h"
#include "runtime/cuda/ops/cuda_ops.h"

namespace bloom::cuda_ops {

absl::Status LaunchStatus(cudaError_t error, const plan::Instruction& instruction) {
  if (error == cudaSuccess) return absl::OkStatus();
  return CudaStatus(error,
                    absl::StrCat(plan::EnumNameKernel(instruction.kernel_type()), " launch"));
}

absl::Status QuantizedWeightsUnsupported(const CudaOpContext& context,
                                         const plan::Instruction& instruction) {
  const plan::Tensor& weight = *context.plan->tensors()->Get(instruction.operands()->Get(1));
  return absl::UnimplementedError(
      absl::StrCat(plan::EnumNameKernel(instruction.kernel_type()), " of '",
                   weight.name()->str(), "': the CUDA backend has no kernel for quantized weights "
                   "yet (issue 14); run the plan on the CPU backend"));
}

}  // namespace bloom::cuda_ops
