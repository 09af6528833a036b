// The CUDA backend's op table: one op per plan instruction
// (runtime/cuda/ops/, chosen by one exhaustive switch over plan::Kernel),
// the services the ops share (the cuBLASLt GEMM, converted weights) and the
// scratch they share. PrefetchWeights and AwaitWeights have no op: they are
// the executor's weight streamer's.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/cuda/gemm.cuh"
#include "runtime/cuda/converted_weights.h"
#include "runtime/cuda/cuda_op.h"

namespace bloom {

class CudaOpTable {
 public:
  // `tensors` and `kv_layers` must outlive the table; `comm` is the group's
  // device communicator (null at tp=1). `streamed(tensor)` says whether a
  // weight lives in a streamed slot.
  static absl::StatusOr<std::unique_ptr<CudaOpTable>> Create(
      const plan::Plan& plan, const std::string& plan_label,
      const std::vector<DeviceTensor>& tensors, const std::vector<cuda::PagedKvView>& kv_layers,
      Communicator* comm, std::function<bool(uint32_t)> streamed,
      const cuda::GemmOptions& gemm_options, cuda::DecodeAttentionKernel decode_attention,
      const QuantizedDeviceLayout* quantized);

  // Device scratch the ops share: every region (each sized for its largest
  // need) and the cuBLASLt workspace.
  size_t ScratchBytes() const { return scratch_bytes_; }

  // Hands over ScratchBytes() of device memory, creates the cuBLASLt
  // handle and prepares every op (converted weights, constants' device
  // copies), once the weights are loaded. `allocate` gives the ops device
  // memory of their own.
  absl::Status Prepare(
      uint8_t* scratch, cudaStream_t stream,
      std::function<absl::StatusOr<DeviceBuffer>(size_t, const std::string&)> allocate);

  // Launches instruction `index` for the step's shape.
  absl::Status Run(size_t index, const StepShape& shape, cudaStream_t stream) {
    CudaOp* op = ops_[index].get();
    if (op == nullptr) return NoOp(index);
    return op->Run(shape, stream);
  }

 private:
  CudaOpTable(const plan::Plan& plan, const std::string& plan_label,
              const std::vector<DeviceTensor>& tensors, std::function<bool(uint32_t)> streamed)
      : converted_(plan, tensors, plan_label, std::move(streamed)) {}
  absl::Status NoOp(size_t index) const;

  CudaOpContext context_;
  cuda::LinearGemm gemm_;
  cuda::GemmOptions gemm_options_;
  ConvertedWeights converted_;
  std::vector<std::unique_ptr<CudaOp>> ops_;  // by instruction; null for the streamer's
  std::array<size_t, kScratchRegions> region_bytes_{};
  size_t scratch_bytes_ = 0;
};

}  // namespace bloom
