// AllGather: the ranks' x[N, C] side by side along the last dimension, in
// rank order (y[N, ranks * C], vocab-parallel logits). The communicator
// gathers whole buffers in rank order ([ranks, N, C]) into this op's
// buffer, which is then interleaved into y.
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "runtime/cpu/ops/cpu_ops.h"
#include "runtime/exec/plan_view.h"
#include "runtime/support/status_macros.h"

namespace bloom::cpu_ops {
namespace {

class AllGatherOp : public CpuOp {
 public:
  explicit AllGatherOp(int64_t columns) : columns_(columns) {}

  absl::Status Run(const CpuOpArgs& args, PrecisionScratch& scratch) override {
    const int64_t rows = args.operands[0].rows;
    BLOOM_ASSIGN_OR_RETURN(const float* x, scratch.Widen(args.operands[0], 0));
    BLOOM_ASSIGN_OR_RETURN(float* y, scratch.Output(args.results[0], 0));
    if (args.comm == nullptr || args.comm->size() == 1) {
      if (x != y) std::memmove(y, x, rows * columns_ * sizeof(float));
      return absl::OkStatus();
    }
    const int ranks = args.comm->size();
    // Sized by the step's rows, not the plan's maximum: it grows to the
    // largest step seen and stays.
    gathered_.resize(static_cast<size_t>(ranks) * rows * columns_);
    BLOOM_RETURN_IF_ERROR(args.comm->AllGather(x, rows * columns_, gathered_.data()));
    for (int r = 0; r < ranks; ++r) {
      for (int64_t i = 0; i < rows; ++i) {
        const float* src = gathered_.data() + (r * rows + i) * columns_;
        std::copy(src, src + columns_, y + i * ranks * columns_ + r * columns_);
      }
    }
    return absl::OkStatus();
  }

 private:
  const int64_t columns_;
  std::vector<float> gathered_;  // the ranks' x, rank-major
};

}  // namespace

OpOrError MakeAllGatherOp(const plan::Plan& plan, const plan::Instruction& instruction) {
  const plan::Tensor& x = *plan.tensors()->Get(instruction.operands()->Get(0));
  return std::make_unique<AllGatherOp>(ColumnsOf(x));
}

}  // namespace bloom::cpu_ops
