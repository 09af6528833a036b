// AddLayerNorm: sum = a + b; normed = LayerNorm(sum). The statistics are of
// the float32 sum, before sum is rounded to its storage dtype, as the
// schema specifies.
#include <memory>

#include "kernels/cpu/add.h"
#include "kernels/cpu/layer_norm.h"
#include "runtime/cpu/ops/cpu_ops.h"
#include "runtime/exec/plan_view.h"
#include "runtime/support/status_macros.h"

namespace bloom::cpu_ops {
namespace {

class AddLayerNormOp : public CpuOp {
 public:
  AddLayerNormOp(int64_t hidden, float epsilon) : hidden_(hidden), epsilon_(epsilon) {}

  absl::Status Run(const CpuOpArgs& args, PrecisionScratch& scratch) override {
    const auto& in = args.operands;
    const int64_t rows = in[0].rows;
    BLOOM_ASSIGN_OR_RETURN(float* sum, scratch.Output(args.results[0], 0));
    BLOOM_ASSIGN_OR_RETURN(const float* a, scratch.Widen(in[0], 0));
    BLOOM_ASSIGN_OR_RETURN(const float* b, scratch.Widen(in[1], 1));
    cpu::Add(a, b, rows * hidden_, sum);
    BLOOM_ASSIGN_OR_RETURN(const float* gamma, scratch.Widen(in[2], 2));
    BLOOM_ASSIGN_OR_RETURN(const float* beta, scratch.Widen(in[3], 3));
    BLOOM_ASSIGN_OR_RETURN(float* normed, scratch.Output(args.results[1], 1));
    cpu::LayerNorm(sum, gamma, beta, rows, hidden_, epsilon_, normed);
    return absl::OkStatus();
  }

 private:
  const int64_t hidden_;
  const float epsilon_;
};

}  // namespace

OpOrError MakeAddLayerNormOp(const plan::Plan& plan, const plan::Instruction& instruction) {
  const plan::Tensor& a = *plan.tensors()->Get(instruction.operands()->Get(0));
  return std::make_unique<AddLayerNormOp>(ColumnsOf(a),
                                          instruction.kernel_as_AddLayerNorm()->epsilon());
}

}  // namespace bloom::cpu_ops
