// GatherRows: y[r] = x[rows[r]] (the logit rows picked out of the tokens).
#include "kernels/cuda/gather_rows.cuh"

#include "runtime/cuda/ops/cuda_ops.h"

namespace bloom::cuda_ops {
namespace {

class GatherRowsOp : public CudaOp {
 public:
  GatherRowsOp(const CudaOpContext& context, const plan::Instruction& instruction)
      : instruction_(instruction),
        x_(context.tensor(instruction.operands()->Get(0))),
        index_rows_(context.plan_tensor(instruction.operands()->Get(1))),
        index_(context.tensor(instruction.operands()->Get(1))),
        y_(context.tensor(instruction.results()->Get(0))) {}

  absl::Status Run(const StepShape& shape, cudaStream_t stream) override {
    return LaunchStatus(cuda::LaunchGatherRows(
                            x_.data, x_.dtype, x_.columns, static_cast<const int32_t*>(index_.data),
                            RowsAt(index_rows_, shape.rows()), y_.data, y_.dtype, stream),
                        instruction_);
  }

 private:
  const plan::Instruction& instruction_;
  const DeviceTensor x_;
  const plan::Tensor& index_rows_;
  const DeviceTensor index_, y_;
};

}  // namespace

OpOrError MakeGatherRows(const CudaOpContext& context, size_t index) {
  return std::make_unique<GatherRowsOp>(context, *context.plan->instructions()->Get(index));
}

}  // namespace bloom::cuda_ops
