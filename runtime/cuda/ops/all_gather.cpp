// AllGather: the communicator gathers whole buffers rank-major ([ranks,
// rows, C]) into the collective scratch; the plan wants the ranks' columns
// side by side ([rows, ranks * C]): one strided device copy per rank puts
// each block in its column range. Float32 only (the logits' dtype).
#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/cuda_status.h"
#include "runtime/cuda/ops/cuda_ops.h"
#include "runtime/support/status_macros.h"

namespace bloom::cuda_ops {
namespace {

class AllGatherOp : public CudaOp {
 public:
  AllGatherOp(const CudaOpContext& context, const plan::Instruction& instruction)
      : comm_(context.comm),
        x_rows_(context.plan_tensor(instruction.operands()->Get(0))),
        x_(context.tensor(instruction.operands()->Get(0))),
        y_(context.tensor(instruction.results()->Get(0))),
        max_rows_(MaxRows(x_rows_, *context.plan->limits())),
        plan_ranks_(std::max<int64_t>(context.plan->tp_size(), 1)) {}

  size_t ScratchBytes(ScratchRegion region) const override {
    if (region != ScratchRegion::kCollective) return 0;
    return plan_ranks_ * max_rows_ * x_.columns * sizeof(float);
  }

  absl::Status Prepare(const CudaOpResources& resources) override {
    gathered_ = reinterpret_cast<float*>(resources.region(ScratchRegion::kCollective));
    return absl::OkStatus();
  }

  absl::Status Run(const StepShape& shape, cudaStream_t stream) override {
    const int64_t rows = RowsAt(x_rows_, shape.rows());
    const int64_t columns = x_.columns;
    const int ranks = comm_ == nullptr ? 1 : comm_->size();
    if (ranks == 1) {
      if (x_.data != y_.data) {
        BLOOM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(y_.data, x_.data, rows * columns * sizeof(float),
                                                   cudaMemcpyDeviceToDevice, stream),
                                   "AllGather (one rank)");
      }
      return absl::OkStatus();
    }
    if (y_.columns != ranks * columns) {
      return absl::FailedPreconditionError(absl::StrCat(
          "AllGather of ", columns, " columns on ", ranks, " ranks into ", y_.columns, " columns"));
    }
    BLOOM_RETURN_IF_ERROR(
        comm_->AllGather(static_cast<const float*>(x_.data), rows * columns, gathered_));
    const size_t row_bytes = columns * sizeof(float);
    for (int r = 0; r < ranks; ++r) {
      BLOOM_CUDA_RETURN_IF_ERROR(
          cudaMemcpy2DAsync(static_cast<float*>(y_.data) + r * columns, ranks * row_bytes,
                            gathered_ + r * rows * columns, row_bytes, row_bytes, rows,
                            cudaMemcpyDeviceToDevice, stream),
          "AllGather: placing a rank's columns");
    }
    return absl::OkStatus();
  }

 private:
  Communicator* comm_;
  const plan::Tensor& x_rows_;
  const DeviceTensor x_, y_;
  const int64_t max_rows_;
  const int64_t plan_ranks_;
  float* gathered_ = nullptr;
};

}  // namespace

OpOrError MakeAllGather(const CudaOpContext& context, size_t index) {
  const auto* instruction = context.plan->instructions()->Get(index);
  const DeviceTensor& x = context.tensor(instruction->operands()->Get(0));
  const DeviceTensor& y = context.tensor(instruction->results()->Get(0));
  if (x.dtype != DType::kF32 || y.dtype != DType::kF32) {
    return absl::UnimplementedError(
        absl::StrCat("instruction ", index, ": AllGather of ", std::string(DTypeName(x.dtype)),
                     " into ", std::string(DTypeName(y.dtype)),
                     " (the CUDA executor gathers float32, the logits' dtype)"));
  }
  return std::make_unique<AllGatherOp>(context, *instruction);
}

}  // namespace bloom::cuda_ops
