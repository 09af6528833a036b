// AddLayerNorm: sum = a + b (the residual stream) and normed = LayerNorm(sum)
// in one pass.
#include "kernels/cuda/add_layer_norm.cuh"

#include "runtime/cuda/ops/cuda_ops.h"

namespace bloom::cuda_ops {
namespace {

class AddLayerNormOp : public CudaOp {
 public:
  AddLayerNormOp(const CudaOpContext& context, const plan::Instruction& instruction)
      : instruction_(instruction),
        a_rows_(context.plan_tensor(instruction.operands()->Get(0))),
        a_(context.tensor(instruction.operands()->Get(0))),
        b_(context.tensor(instruction.operands()->Get(1))),
        gamma_(context.tensor(instruction.operands()->Get(2))),
        beta_(context.tensor(instruction.operands()->Get(3))),
        sum_(context.tensor(instruction.results()->Get(0))),
        normed_(context.tensor(instruction.results()->Get(1))),
        epsilon_(instruction.kernel_as_AddLayerNorm()->epsilon()) {}

  absl::Status Run(const StepShape& shape, cudaStream_t stream) override {
    return LaunchStatus(cuda::LaunchAddLayerNorm(
                            a_.data, a_.dtype, b_.data, b_.dtype, gamma_.data, gamma_.dtype,
                            beta_.data, beta_.dtype, RowsAt(a_rows_, shape.rows()), a_.columns,
                            epsilon_, sum_.data, sum_.dtype, normed_.data, normed_.dtype, stream),
                        instruction_);
  }

 private:
  const plan::Instruction& instruction_;
  const plan::Tensor& a_rows_;
  const DeviceTensor a_, b_, gamma_, beta_, sum_, normed_;
  const float epsilon_;
};

}  // namespace

OpOrError MakeAddLayerNorm(const CudaOpContext& context, size_t index) {
  if (absl::Status s = CheckLayerNormColumns(context, index); !s.ok()) return s;
  return std::make_unique<AddLayerNormOp>(context, *context.plan->instructions()->Get(index));
}

}  // namespace bloom::cuda_ops
