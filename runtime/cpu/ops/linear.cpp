// Linear: y = epilogue(x · Wᵀ (+ bias)), W in the checkpoint's [out, in]
// layout. The Gelu epilogue acts on the float32 result, before it is
// rounded to y's storage dtype.
#include "kernels/cpu/linear.h"

#include <memory>

#include "kernels/cpu/gelu.h"
#include "runtime/cpu/ops/cpu_ops.h"
#include "runtime/exec/plan_view.h"
#include "runtime/support/status_macros.h"

namespace bloom::cpu_ops {
namespace {

class LinearOp : public CpuOp {
 public:
  LinearOp(int64_t in_features, int64_t out_features, bool has_bias, bool gelu)
      : in_features_(in_features), out_features_(out_features), has_bias_(has_bias), gelu_(gelu) {}

  absl::Status Run(const CpuOpArgs& args, PrecisionScratch& scratch) override {
    const auto& in = args.operands;
    BLOOM_ASSIGN_OR_RETURN(float* y, scratch.Output(args.results[0], 0));
    BLOOM_ASSIGN_OR_RETURN(const float* x, scratch.Widen(in[0], 0));
    BLOOM_ASSIGN_OR_RETURN(const float* weight, scratch.Widen(in[1], 1));
    const float* bias = nullptr;
    if (has_bias_) {
      BLOOM_ASSIGN_OR_RETURN(bias, scratch.Widen(in[2], 2));
    }
    cpu::Linear(x, weight, bias, in[0].rows, in_features_, out_features_, y);
    if (gelu_) {
      const int64_t n = ElementsOf(*args.results[0].tensor, args.results[0].rows);
      cpu::GeluTanh(y, n, y);
    }
    return absl::OkStatus();
  }

 private:
  const int64_t in_features_;
  const int64_t out_features_;
  const bool has_bias_;
  const bool gelu_;
};

}  // namespace

OpOrError MakeLinearOp(const plan::Plan& plan, const plan::Instruction& instruction) {
  const auto* operands = instruction.operands();
  const plan::Tensor& x = *plan.tensors()->Get(operands->Get(0));
  const plan::Tensor& weight = *plan.tensors()->Get(operands->Get(1));
  const bool gelu = instruction.kernel_as_Linear()->epilogue() == plan::Epilogue::Gelu;
  return std::make_unique<LinearOp>(ColumnsOf(x), weight.shape()->Get(0), operands->size() > 2,
                                    gelu);
}

}  // namespace bloom::cpu_ops
