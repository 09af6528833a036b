// Add: sum = a + b, elementwise over tensors of one shape.
#include "kernels/cpu/add.h"

#include <memory>

#include "runtime/cpu/ops/cpu_ops.h"
#include "runtime/exec/plan_view.h"
#include "runtime/support/status_macros.h"

namespace bloom::cpu_ops {
namespace {

class AddOp : public CpuOp {
 public:
  absl::Status Run(const CpuOpArgs& args, PrecisionScratch& scratch) override {
    const auto& in = args.operands;
    BLOOM_ASSIGN_OR_RETURN(const float* a, scratch.Widen(in[0], 0));
    BLOOM_ASSIGN_OR_RETURN(const float* b, scratch.Widen(in[1], 1));
    BLOOM_ASSIGN_OR_RETURN(float* sum, scratch.Output(args.results[0], 0));
    cpu::Add(a, b, ElementsOf(*in[0].tensor, in[0].rows), sum);
    return absl::OkStatus();
  }
};

}  // namespace

OpOrError MakeAddOp(const plan::Plan&, const plan::Instruction&) {
  return std::make_unique<AddOp>();
}

}  // namespace bloom::cpu_ops
