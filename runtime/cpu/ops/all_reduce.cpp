// AllReduce: y = the sum over the tensor-parallel ranks of x, in float32
// whatever the storage dtypes. Each rank's x is first copied into y's
// float32 view, which the communicator reduces in place; without a group
// (tp=1) that copy is the whole op.
#include <cstring>
#include <memory>

#include "runtime/cpu/ops/cpu_ops.h"
#include "runtime/exec/plan_view.h"
#include "runtime/support/status_macros.h"

namespace bloom::cpu_ops {
namespace {

class AllReduceOp : public CpuOp {
 public:
  absl::Status Run(const CpuOpArgs& args, PrecisionScratch& scratch) override {
    const ResolvedOperand& x_operand = args.operands[0];
    BLOOM_ASSIGN_OR_RETURN(const float* x, scratch.Widen(x_operand, 0));
    BLOOM_ASSIGN_OR_RETURN(float* y, scratch.Output(args.results[0], 0));
    const int64_t n = ElementsOf(*x_operand.tensor, x_operand.rows);
    if (x != y) std::memmove(y, x, n * sizeof(float));
    if (args.comm != nullptr) return args.comm->AllReduceSum(y, n);
    return absl::OkStatus();
  }
};

}  // namespace

OpOrError MakeAllReduceOp(const plan::Plan&, const plan::Instruction&) {
  return std::make_unique<AllReduceOp>();
}

}  // namespace bloom::cpu_ops
