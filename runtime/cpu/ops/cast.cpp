// Cast: y = x in y's storage dtype. Widening x and narrowing y is the
// whole conversion (round to nearest even); the copy between the two
// float32 views is skipped when both are the same memory.
#include <algorithm>
#include <memory>

#include "runtime/cpu/ops/cpu_ops.h"
#include "runtime/exec/plan_view.h"
#include "runtime/support/status_macros.h"

namespace bloom::cpu_ops {
namespace {

class CastOp : public CpuOp {
 public:
  absl::Status Run(const CpuOpArgs& args, PrecisionScratch& scratch) override {
    const ResolvedOperand& x_operand = args.operands[0];
    BLOOM_ASSIGN_OR_RETURN(const float* x, scratch.Widen(x_operand, 0));
    BLOOM_ASSIGN_OR_RETURN(float* y, scratch.Output(args.results[0], 0));
    if (x != y) std::copy(x, x + ElementsOf(*x_operand.tensor, x_operand.rows), y);
    return absl::OkStatus();
  }
};

}  // namespace

OpOrError MakeCastOp(const plan::Plan&, const plan::Instruction&) {
  return std::make_unique<CastOp>();
}

}  // namespace bloom::cpu_ops
