// One plan kernel on the CUDA backend (runtime/cuda/ops/, one file per
// kernel): what it needs once (scratch, converted weights, constants'
// device copies) and what it launches per step. The op table
// (cuda_op_table.h) makes one op per instruction; the executor owns the
// memory every op reads (arena, weights, KV pools, step inputs) and walks
// the instructions.
//
// Everything that does not change from step to step is resolved when the
// op is made or prepared; Run only reads the step's row counts and
// attention work, issues launches and never synchronises, so a decode step
// can be captured into a CUDA graph.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/cuda/attention_decode.cuh"
#include "kernels/cuda/paged_kv.cuh"
#include "runtime/comm/communicator.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/exec/plan_view.h"
#include "runtime/plan/plan_generated.h"
#include "runtime/support/dtype.h"

namespace bloom {

class QuantizedDeviceLayout;  // runtime/cuda/quantized_weights.h

namespace cuda {
class LinearGemm;
}  // namespace cuda
class ConvertedWeights;

// Device allocations and scratch regions start on 256 bytes (cuBLASLt's
// fastest kernels want 16 at least).
inline constexpr size_t kDeviceAlignment = 256;
inline size_t DeviceAlignUp(size_t n) {
  return (n + kDeviceAlignment - 1) / kDeviceAlignment * kDeviceAlignment;
}

// A plan tensor as the device holds it.
struct DeviceTensor {
  void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t columns = 1;  // product of all dims but the first
};

// What varies per step: row counts and the attention work lists (device
// pointers into the uploaded step inputs).
struct StepShape {
  int64_t tokens = 0;                  // T (a graph bucket's padded T)
  int64_t logit_rows = 0;              // R
  const int32_t* positions = nullptr;  // device [T]
  const int32_t* slots = nullptr;      // device [T]
  const cuda::AttentionTile* tiles = nullptr;
  int32_t num_tiles = 0;
  const int32_t* decode_tokens = nullptr;
  int32_t num_decode_tokens = 0;

  StepRows rows() const { return StepRows{tokens, logit_rows}; }
};

// Scratch regions the ops share. Ops run one after another on one stream,
// so each region is sized for the largest need of any op and reused by all;
// the regions lie in this order, the GEMM workspace after them.
enum class ScratchRegion : int {
  kLinearInput,        // a Linear's input cast to its compute dtype
  kLinearOutput,       // a Linear's float32 product before its cast
  kAttentionDecode,    // split-K decode partials and counters
  kCollective,         // float32 staging of AllReduce and AllGather
  kDequantizedWeight,  // a quantized weight dequantized for cuBLASLt (large batches)
  kQuantizedPartials,  // the fused quantized product's fp32 partial sums (kept zero)
};
inline constexpr int kScratchRegions = 6;

// What an op is made from: the plan, where its tensors are, and the
// services ops of one kind share. Fixed for the executor's life.
struct CudaOpContext {
  const plan::Plan* plan = nullptr;
  const std::vector<DeviceTensor>* tensors = nullptr;  // one per plan tensor
  const std::vector<cuda::PagedKvView>* kv_layers = nullptr;
  cuda::LinearGemm* gemm = nullptr;       // every Linear's (one cuBLASLt handle)
  ConvertedWeights* converted = nullptr;  // weights in another dtype, shared by the Linears
  Communicator* comm = nullptr;           // the group's device communicator; null at tp=1
  // Where the quantized weights' parts live (runtime/cuda/quantized_weights.h).
  const QuantizedDeviceLayout* quantized = nullptr;
  // The decode attention kernel (CudaExecutorOptions::decode_attention).
  cuda::DecodeAttentionKernel decode_attention = cuda::DecodeAttentionKernel::kAuto;

  const DeviceTensor& tensor(uint32_t id) const { return (*tensors)[id]; }
  const plan::Tensor& plan_tensor(uint32_t id) const { return *plan->tensors()->Get(id); }
};

// What an op gets once, after the weights are loaded and the scratch is
// allocated.
struct CudaOpResources {
  std::array<uint8_t*, kScratchRegions> scratch{};
  cudaStream_t stream = nullptr;  // the executor's
  // The first op of its kernel in the plan: it sets up what the ops of one
  // kernel share (the decode scratch's counters).
  bool first_of_kernel = false;
  // Device memory for the op to own, counted in the executor's
  // peak_device_bytes(); `what` names it in errors.
  std::function<absl::StatusOr<DeviceBuffer>(size_t bytes, const std::string& what)> allocate;

  uint8_t* region(ScratchRegion r) const { return scratch[static_cast<int>(r)]; }
};

class CudaOp {
 public:
  virtual ~CudaOp() = default;

  // Bytes of `region` this op needs at most (aligned by the op table).
  virtual size_t ScratchBytes(ScratchRegion region) const {
    (void)region;
    return 0;
  }
  // Once, in instruction order, before the first Run.
  virtual absl::Status Prepare(const CudaOpResources& resources) {
    (void)resources;
    return absl::OkStatus();
  }
  // Launches the instruction for the step's shape on `stream`.
  virtual absl::Status Run(const StepShape& shape, cudaStream_t stream) = 0;
};

}  // namespace bloom
