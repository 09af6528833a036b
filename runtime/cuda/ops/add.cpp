// Add: y = a + b, element by element.
#include "kernels/cuda/add.cuh"

#include "runtime/cuda/ops/cuda_ops.h"

namespace bloom::cuda_ops {
namespace {

class AddOp : public CudaOp {
 public:
  AddOp(const CudaOpContext& context, const plan::Instruction& instruction)
      : instruction_(instruction),
        a_rows_(context.plan_tensor(instruction.operands()->Get(0))),
        a_(context.tensor(instruction.operands()->Get(0))),
        b_(context.tensor(instruction.operands()->Get(1))),
        y_(context.tensor(instruction.results()->Get(0))) {}

  absl::Status Run(const StepShape& shape, cudaStream_t stream) override {
    return LaunchStatus(
        cuda::LaunchAdd(a_.data, a_.dtype, b_.data, b_.dtype,
                        RowsAt(a_rows_, shape.rows()) * a_.columns, y_.data, y_.dtype, stream),
        instruction_);
  }

 private:
  const plan::Instruction& instruction_;
  const plan::Tensor& a_rows_;
  const DeviceTensor a_, b_, y_;
};

}  // namespace

OpOrError MakeAdd(const CudaOpContext& context, size_t index) {
  return std::make_unique<AddOp>(context, *context.plan->instructions()->Get(index));
}

}  // namespace bloom::cuda_ops
