#include "absl/strings/str_cat.h"
#include "runtime/cuda/cuda_status.h"
#include "runtime/cuda/ops/cuda_ops.h"

namespace bloom::cuda_ops {

absl::Status LaunchStatus(cudaError_t error, const plan::Instruction& instruction) {
  if (error == cudaSuccess) return absl::OkStatus();
  return CudaStatus(error,
                    absl::StrCat(plan::EnumNameKernel(instruction.kernel_type()), " launch"));
}

}  // namespace bloom::cuda_ops
