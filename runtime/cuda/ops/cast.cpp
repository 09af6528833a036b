// Cast: y = x in another storage dtype (round to nearest even).
#include "kernels/cuda/cast.cuh"

#include "runtime/cuda/ops/cuda_ops.h"

namespace bloom::cuda_ops {
namespace {

class CastOp : public CudaOp {
 public:
  CastOp(const CudaOpContext& context, const plan::Instruction& instruction)
      : instruction_(instruction),
        x_rows_(context.plan_tensor(instruction.operands()->Get(0))),
        x_(context.tensor(instruction.operands()->Get(0))),
        y_(context.tensor(instruction.results()->Get(0))) {}

  absl::Status Run(const StepShape& shape, cudaStream_t stream) override {
    return LaunchStatus(
        cuda::LaunchCast(x_.data, x_.dtype, RowsAt(x_rows_, shape.rows()) * x_.columns, y_.data,
                         y_.dtype, stream),
        instruction_);
  }

 private:
  const plan::Instruction& instruction_;
  const plan::Tensor& x_rows_;
  const DeviceTensor x_, y_;
};

}  // namespace

OpOrError MakeCast(const CudaOpContext& context, size_t index) {
  return std::make_unique<CastOp>(context, *context.plan->instructions()->Get(index));
}

}  // namespace bloom::cuda_ops
