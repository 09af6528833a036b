#include "runtime/cuda/cuda_executor_options.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/gemv.cuh"

namespace bloom {

absl::Status ValidateCudaExecutorOptions(const CudaExecutorOptions& options) {
  if (options.gemm.gemv_max_rows < 0 || options.gemm.gemv_max_rows > cuda::kGemvMaxRows) {
    return absl::InvalidArgumentError(absl::StrCat("CUDA executor options: gemv_max_rows ",
                                                   options.gemm.gemv_max_rows, " is outside [0, ",
                                                   cuda::kGemvMaxRows, "]"));
  }
  if (options.profile < 0 || options.profile > 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA executor options: profile ", options.profile, " is not 0, 1 or 2"));
  }
  for (const auto& [name, rate] :
       {std::make_pair("bytes_per_s", options.profile_ceilings.bytes_per_s),
        std::make_pair("flops_per_s", options.profile_ceilings.flops_per_s)}) {
    if (!std::isfinite(rate) || rate <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("CUDA executor options: profile ceiling ",
                                                     name, " ", rate, " is not a positive number"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<CudaCollectives>> ParseCudaCollectives(absl::string_view text) {
  if (text == "auto") return std::optional<CudaCollectives>();
  if (text == "nccl") return std::optional<CudaCollectives>(CudaCollectives::kNccl);
  if (text == "host") return std::optional<CudaCollectives>(CudaCollectives::kHostStaged);
  return absl::InvalidArgumentError(absl::StrCat("'", text, "': expected auto, nccl or host"));
}

absl::StatusOr<cuda::DecodeAttentionKernel> ParseDecodeAttentionKernel(absl::string_view text) {
  if (text == "auto") return cuda::DecodeAttentionKernel::kAuto;
  if (text == "block") return cuda::DecodeAttentionKernel::kBlockPerSplit;
  return absl::InvalidArgumentError(absl::StrCat("'", text, "': expected auto or block"));
}

}  // namespace bloom
