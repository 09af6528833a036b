// CUDA and cuBLASLt return codes as absl::Status, so the executor keeps the
// project's one error policy (DESIGN.md, decision 9): every failed call is a
// value naming what was being done.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace bloom {

inline absl::Status CudaStatus(cudaError_t error, const std::string& what) {
  if (error == cudaSuccess) return absl::OkStatus();
  const absl::StatusCode code = error == cudaErrorMemoryAllocation
                                    ? absl::StatusCode::kResourceExhausted
                                    : absl::StatusCode::kInternal;
  return absl::Status(code, absl::StrCat(what, ": ", cudaGetErrorName(error), " (",
                                         cudaGetErrorString(error), ")"));
}

inline absl::Status CublasStatus(cublasStatus_t status, const std::string& what) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": cuBLASLt status ", static_cast<int>(status)));
}

}  // namespace bloom

// Returns from the enclosing function if a CUDA call failed. `what` is
// evaluated only on failure.
#define BLOOM_CUDA_RETURN_IF_ERROR(expr, what)                         \
  do {                                                                 \
    const cudaError_t bloom_cuda_error_ = (expr);                      \
    if (bloom_cuda_error_ != cudaSuccess) {                            \
      return ::bloom::CudaStatus(bloom_cuda_error_, (what));           \
    }                                                                  \
  } while (false)
