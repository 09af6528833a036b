// The CUDA backend's kernel dispatch: maps each plan instruction to the
// launchers of kernels/cuda on the executor's stream. Everything that does
// not change from step to step (tensor addresses, dtypes, the conversions a
// Linear's dtype mix needs, KV-cache views) is resolved once by Prepare; Run
// then only reads the step's row counts and attention work, issues launches,
// and never synchronises, so a decode step can be captured into a CUDA
// graph.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/cuda/gemm.cuh"
#include "kernels/cuda/paged_kv.cuh"
#include "runtime/comm/communicator.h"
#include "runtime/plan/plan_generated.h"
#include "runtime/support/dtype.h"

namespace bloom {

// A plan tensor as the device holds it.
struct DeviceTensor {
  void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t columns = 1;  // product of all dims but the first
};

// What varies per step: row counts and the attention work lists (device
// pointers into the uploaded step inputs).
struct StepShape {
  int64_t tokens = 0;      // T (a graph bucket's padded T)
  int64_t logit_rows = 0;  // R
  const int32_t* positions = nullptr;  // device [T]
  const int32_t* slots = nullptr;      // device [T]
  const cuda::AttentionTile* tiles = nullptr;
  int32_t num_tiles = 0;
  const int32_t* decode_tokens = nullptr;
  int32_t num_decode_tokens = 0;
};

// A weight converted to another dtype at load time, for a Linear whose
// dtype mix cuBLASLt does not take as stored.
struct WeightConversion {
  uint32_t tensor;
  DType dtype;
};

class CudaDispatch {
 public:
  // Resolves the plan against device memory. `tensors` has one entry per
  // plan tensor; `kv_layers` one view per KV-cache layer; `slopes` the
  // device copy of each AlibiAttention instruction's slopes (by instruction
  // index, null for others). Returns the weight conversions the Linears
  // need (the caller allocates and fills them, then calls SetConversion).
  absl::StatusOr<std::vector<WeightConversion>> Prepare(
      const plan::Plan& plan, std::vector<DeviceTensor> tensors,
      std::vector<cuda::PagedKvView> kv_layers, std::vector<const float*> slopes);

  void SetConversion(const WeightConversion& conversion, void* data);

  // The tensor-parallel group's device-memory communicator (not owned),
  // which AllReduce and AllGather enqueue on; needed by plans that have
  // them, before the first Run.
  void SetCommunicator(Communicator* comm) { comm_ = comm; }

  // Scratch this dispatch needs for dtype conversions around GEMMs and for
  // split-K decode partials (bytes), and the decode split count.
  size_t ScratchBytes() const { return scratch_bytes_; }
  // Hands over ScratchBytes() of device memory and creates the cuBLASLt
  // handle (its workspace is part of the scratch).
  absl::Status SetScratch(void* scratch);
  int32_t decode_splits() const { return decode_splits_; }
  int32_t decode_capacity() const { return decode_capacity_; }

  cuda::LinearGemm& gemm() { return gemm_; }

  // Launches instruction `index` of the plan for the step's shape.
  absl::Status Run(size_t index, const StepShape& shape, cudaStream_t stream);

 private:
  struct LinearRecipe {
    DType compute = DType::kF32;       // dtype of both GEMM operands
    DType gemm_out = DType::kF32;      // dtype the GEMM writes
    bool cast_x = false;               // x converted to `compute` in scratch first
    bool out_via_scratch = false;      // GEMM into scratch, then cast to y
    const void* weight = nullptr;      // in `compute`
    const void* bias = nullptr;        // in `gemm_out`, or null
  };

  int64_t Rows(uint32_t tensor, const StepShape& shape) const;
  absl::Status RunLinear(size_t index, const plan::Instruction& instruction, const StepShape& shape,
                         cudaStream_t stream);
  absl::Status RunAllReduce(const plan::Instruction& instruction, const StepShape& shape,
                            cudaStream_t stream);
  absl::Status RunAllGather(const plan::Instruction& instruction, const StepShape& shape,
                            cudaStream_t stream);
  float* collective_scratch() const {
    return reinterpret_cast<float*>(scratch_ + collective_offset_);
  }

  const plan::Plan* plan_ = nullptr;
  std::vector<DeviceTensor> tensors_;
  std::vector<cuda::PagedKvView> kv_layers_;
  std::vector<const float*> slopes_;
  std::map<size_t, LinearRecipe> linear_;  // by instruction index
  std::map<std::pair<uint32_t, int>, void*> conversions_;
  cuda::LinearGemm gemm_;
  uint8_t* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
  size_t x_scratch_bytes_ = 0;  // the first part; the GEMM output scratch follows
  size_t out_scratch_bytes_ = 0;
  int32_t decode_splits_ = 1;
  int32_t decode_capacity_ = 0;
  // Float32 staging for collectives: a 16-bit all-reduce is summed in
  // float32 (the plan's accumulate type), an all-gather lands rank-major.
  size_t collective_offset_ = 0;
  Communicator* comm_ = nullptr;
};

}  // namespace bloom
