// AllReduce: sums the tensor-parallel ranks' partial results in float32
// (the plan's accumulate type for collectives): a 16-bit partial is widened
// into the collective scratch, reduced there and narrowed into the result,
// so the sum rounds once, as the CPU reference's does.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cast.cuh"
#include "runtime/cuda/cuda_status.h"
#include "runtime/cuda/ops/cuda_ops.h"
#include "runtime/support/status_macros.h"

namespace bloom::cuda_ops {
namespace {

class AllReduceOp : public CudaOp {
 public:
  AllReduceOp(const CudaOpContext& context, const plan::Instruction& instruction)
      : comm_(context.comm),
        x_rows_(context.plan_tensor(instruction.operands()->Get(0))),
        x_(context.tensor(instruction.operands()->Get(0))),
        y_(context.tensor(instruction.results()->Get(0))),
        max_rows_(MaxRows(x_rows_, *context.plan->limits())) {}

  size_t ScratchBytes(ScratchRegion region) const override {
    if (region != ScratchRegion::kCollective || y_.dtype == DType::kF32) return 0;
    return max_rows_ * x_.columns * sizeof(float);
  }

  absl::Status Prepare(const CudaOpResources& resources) override {
    scratch_ = reinterpret_cast<float*>(resources.region(ScratchRegion::kCollective));
    return absl::OkStatus();
  }

  absl::Status Run(const StepShape& shape, cudaStream_t stream) override {
    const int64_t count = RowsAt(x_rows_, shape.rows()) * x_.columns;
    if (comm_ == nullptr) {
      return absl::FailedPreconditionError("AllReduce without a communicator");
    }
    float* sum = y_.dtype == DType::kF32 ? static_cast<float*>(y_.data) : scratch_;
    if (x_.dtype == DType::kF32 && x_.data == sum) {
      // Already in place.
    } else if (x_.dtype == DType::kF32) {
      BLOOM_CUDA_RETURN_IF_ERROR(
          cudaMemcpyAsync(sum, x_.data, count * sizeof(float), cudaMemcpyDeviceToDevice, stream),
          "AllReduce: copying the partial sum");
    } else {
      BLOOM_CUDA_RETURN_IF_ERROR(
          cuda::LaunchCast(x_.data, x_.dtype, count, sum, DType::kF32, stream),
          "AllReduce: widening the partial sum");
    }
    BLOOM_RETURN_IF_ERROR(comm_->AllReduceSum(sum, static_cast<size_t>(count)));
    if (y_.dtype != DType::kF32) {
      BLOOM_CUDA_RETURN_IF_ERROR(
          cuda::LaunchCast(sum, DType::kF32, count, y_.data, y_.dtype, stream),
          "AllReduce: narrowing the sum");
    }
    return absl::OkStatus();
  }

 private:
  Communicator* comm_;
  const plan::Tensor& x_rows_;
  const DeviceTensor x_, y_;
  const int64_t max_rows_;
  float* scratch_ = nullptr;
};

}  // namespace

OpOrError MakeAllReduce(const CudaOpContext& context, size_t index) {
  const auto* instruction = context.plan->instructions()->Get(index);
  const DeviceTensor& x = context.tensor(instruction->operands()->Get(0));
  const DeviceTensor& y = context.tensor(instruction->results()->Get(0));
  if (x.dtype == DType::kI32 || y.dtype == DType::kI32) {
    return absl::UnimplementedError(
        absl::StrCat("instruction ", index, ": AllReduce of int32 tensors"));
  }
  return std::make_unique<AllReduceOp>(context, *instruction);
}

}  // namespace bloom::cuda_ops
