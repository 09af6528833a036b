// Linear: y = epilogue(x · Wᵀ (+ bias)), W in the checkpoint's [out, in]
// layout, or quantized (values, scales [, zero points] in W's place). The Gelu epilogue acts on the float32 result, before it is
// rounded to y's storage dtype.
#include "kernels/cpu/linear.h"

#include <memory>

#include "kernels/cpu/gelu.h"
#include "runtime/cpu/ops/cpu_ops.h"
#include "runtime/cpu/ops/quantized_operands.h"
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

// The same product over a quantized weight, dequantized a block of rows
// at a time as it is read (kernels/cpu/quantized_linear.h): the result is
// the float Linear's on the dequantized weight.
class QuantizedLinearOp : public CpuOp {
 public:
  QuantizedLinearOp(const plan::WeightQuantization* quantization, bool has_bias, bool gelu)
      : quantization_(quantization), has_bias_(has_bias), gelu_(gelu) {}

  absl::Status Run(const CpuOpArgs& args, PrecisionScratch& scratch) override {
    const auto& in = args.operands;
    BLOOM_ASSIGN_OR_RETURN(float* y, scratch.Output(args.results[0], 0));
    BLOOM_ASSIGN_OR_RETURN(const float* x, scratch.Widen(in[0], 0));
    BLOOM_ASSIGN_OR_RETURN(cpu::QuantizedWeightView weight,
                           QuantizedOperands(args, 1, *quantization_, scratch, 1));
    const float* bias = nullptr;
    if (has_bias_) {
      BLOOM_ASSIGN_OR_RETURN(bias, scratch.Widen(in.back(), 2));
    }
    cpu::QuantizedLinear(x, weight, bias, in[0].rows, y);
    if (gelu_) {
      const int64_t n = ElementsOf(*args.results[0].tensor, args.results[0].rows);
      cpu::GeluTanh(y, n, y);
    }
    return absl::OkStatus();
  }

 private:
  const plan::WeightQuantization* quantization_;  // in the plan, which outlives the op
  const bool has_bias_;
  const bool gelu_;
};

}  // namespace

OpOrError MakeLinearOp(const plan::Plan& plan, const plan::Instruction& instruction) {
  const auto* operands = instruction.operands();
  const plan::Tensor& x = *plan.tensors()->Get(operands->Get(0));
  const plan::Tensor& weight = *plan.tensors()->Get(operands->Get(1));
  const auto* params = instruction.kernel_as_Linear();
  const bool gelu = params->epilogue() == plan::Epilogue::Gelu;
  const bool has_bias = operands->size() > 1 + WeightOperandCount(params->quantization());
  if (params->quantization() != nullptr) {
    return std::make_unique<QuantizedLinearOp>(params->quantization(), has_bias, gelu);
  }
  return std::make_unique<LinearOp>(ColumnsOf(x), weight.shape()->Get(0), has_bias, gelu);
}

}  // namespace bloom::cpu_ops
