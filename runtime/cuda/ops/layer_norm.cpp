// LayerNorm: y = (x - mean) / sqrt(var + epsilon) * gamma + beta per row.
#include "kernels/cuda/layer_norm.cuh"

#include "absl/strings/str_cat.h"
#include "runtime/cuda/ops/cuda_ops.h"

namespace bloom::cuda_ops {
namespace {

// The widest row the layer norm kernels reduce (kernels/cuda/row_norm.cuh).
constexpr int64_t kMaxLayerNormColumns = 16384;

class LayerNormOp : public CudaOp {
 public:
  LayerNormOp(const CudaOpContext& context, const plan::Instruction& instruction)
      : instruction_(instruction),
        x_rows_(context.plan_tensor(instruction.operands()->Get(0))),
        x_(context.tensor(instruction.operands()->Get(0))),
        gamma_(context.tensor(instruction.operands()->Get(1))),
        beta_(context.tensor(instruction.operands()->Get(2))),
        y_(context.tensor(instruction.results()->Get(0))),
        epsilon_(instruction.kernel_as_LayerNorm()->epsilon()) {}

  absl::Status Run(const StepShape& shape, cudaStream_t stream) override {
    return LaunchStatus(
        cuda::LaunchLayerNorm(x_.data, x_.dtype, gamma_.data, gamma_.dtype, beta_.data, beta_.dtype,
                              RowsAt(x_rows_, shape.rows()), x_.columns, epsilon_, y_.data,
                              y_.dtype, stream),
        instruction_);
  }

 private:
  const plan::Instruction& instruction_;
  const plan::Tensor& x_rows_;
  const DeviceTensor x_, gamma_, beta_, y_;
  const float epsilon_;
};

}  // namespace

absl::Status CheckLayerNormColumns(const CudaOpContext& context, size_t index) {
  const int64_t columns =
      context.tensor(context.plan->instructions()->Get(index)->operands()->Get(0)).columns;
  if (columns > kMaxLayerNormColumns) {
    return absl::UnimplementedError(
        absl::StrCat("instruction ", index, ": layer norm over ", columns,
                     " columns (the CUDA kernel takes at most ", kMaxLayerNormColumns, ")"));
  }
  return absl::OkStatus();
}

OpOrError MakeLayerNorm(const CudaOpContext& context, size_t index) {
  if (absl::Status s = CheckLayerNormColumns(context, index); !s.ok()) return s;
  return std::make_unique<LayerNormOp>(context, *context.plan->instructions()->Get(index));
}

}  // namespace bloom::cuda_ops
