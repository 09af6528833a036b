// Gelu: BLOOM's tanh approximation (bloom_gelu_forward), elementwise.
#include "kernels/cpu/gelu.h"

#include <memory>

#include "runtime/cpu/ops/cpu_ops.h"
#include "runtime/exec/plan_view.h"
#include "runtime/support/status_macros.h"

namespace bloom::cpu_ops {
namespace {

class GeluOp : public CpuOp {
 public:
  absl::Status Run(const CpuOpArgs& args, PrecisionScratch& scratch) override {
    const ResolvedOperand& x_operand = args.operands[0];
    BLOOM_ASSIGN_OR_RETURN(const float* x, scratch.Widen(x_operand, 0));
    BLOOM_ASSIGN_OR_RETURN(float* y, scratch.Output(args.results[0], 0));
    cpu::GeluTanh(x, ElementsOf(*x_operand.tensor, x_operand.rows), y);
    return absl::OkStatus();
  }
};

}  // namespace

OpOrError MakeGeluOp(const plan::Plan&, const plan::Instruction&) {
  return std::make_unique<GeluOp>();
}

}  // namespace bloom::cpu_ops
