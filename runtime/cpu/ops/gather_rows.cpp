// GatherRows: y[r] = x[row_indices[r]] (the rows whose logits are wanted).
#include "kernels/cpu/gather_rows.h"

#include <memory>

#include "runtime/cpu/ops/cpu_ops.h"
#include "runtime/exec/plan_view.h"
#include "runtime/support/status_macros.h"

namespace bloom::cpu_ops {
namespace {

class GatherRowsOp : public CpuOp {
 public:
  explicit GatherRowsOp(int64_t columns) : columns_(columns) {}

  absl::Status Run(const CpuOpArgs& args, PrecisionScratch& scratch) override {
    const auto& in = args.operands;
    BLOOM_ASSIGN_OR_RETURN(const float* x, scratch.Widen(in[0], 0));
    BLOOM_ASSIGN_OR_RETURN(const int32_t* rows, Int32Values(in[1]));
    BLOOM_ASSIGN_OR_RETURN(float* y, scratch.Output(args.results[0], 0));
    cpu::GatherRows(x, columns_, rows, in[1].rows, y);
    return absl::OkStatus();
  }

 private:
  const int64_t columns_;
};

}  // namespace

OpOrError MakeGatherRowsOp(const plan::Plan& plan, const plan::Instruction& instruction) {
  const plan::Tensor& x = *plan.tensors()->Get(instruction.operands()->Get(0));
  return std::make_unique<GatherRowsOp>(ColumnsOf(x));
}

}  // namespace bloom::cpu_ops
