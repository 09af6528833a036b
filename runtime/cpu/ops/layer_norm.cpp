// LayerNorm: y = (x - mean) / sqrt(var + epsilon) * gamma + beta, per row.
#include "kernels/cpu/layer_norm.h"

#include <memory>

#include "runtime/cpu/ops/cpu_ops.h"
#include "runtime/exec/plan_view.h"
#include "runtime/support/status_macros.h"

namespace bloom::cpu_ops {
namespace {

class LayerNormOp : public CpuOp {
 public:
  LayerNormOp(int64_t hidden, float epsilon) : hidden_(hidden), epsilon_(epsilon) {}

  absl::Status Run(const CpuOpArgs& args, PrecisionScratch& scratch) override {
    const auto& in = args.operands;
    BLOOM_ASSIGN_OR_RETURN(const float* x, scratch.Widen(in[0], 0));
    BLOOM_ASSIGN_OR_RETURN(const float* gamma, scratch.Widen(in[1], 1));
    BLOOM_ASSIGN_OR_RETURN(const float* beta, scratch.Widen(in[2], 2));
    BLOOM_ASSIGN_OR_RETURN(float* y, scratch.Output(args.results[0], 0));
    cpu::LayerNorm(x, gamma, beta, in[0].rows, hidden_, epsilon_, y);
    return absl::OkStatus();
  }

 private:
  const int64_t hidden_;
  const float epsilon_;
};

}  // namespace

OpOrError MakeLayerNormOp(const plan::Plan& plan, const plan::Instruction& instruction) {
  const plan::Tensor& x = *plan.tensors()->Get(instruction.operands()->Get(0));
  return std::make_unique<LayerNormOp>(ColumnsOf(x), instruction.kernel_as_LayerNorm()->epsilon());
}

}  // namespace bloom::cpu_ops
