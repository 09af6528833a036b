// EmbeddingGather: out[t] = table[token_ids[t]]. A vocab-parallel table
// holds rows [begin, begin + rows) of a vocabulary of `vocab` ids; other
// ranks supply the other rows, and the AllReduce after this sums the ranks'
// (mostly zero) rows.
#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "runtime/cpu/ops/cpu_ops.h"
#include "runtime/exec/plan_view.h"
#include "runtime/support/status_macros.h"

namespace bloom::cpu_ops {
namespace {

class EmbeddingGatherOp : public CpuOp {
 public:
  EmbeddingGatherOp(int64_t rows, int64_t hidden, int64_t begin, int64_t vocab)
      : rows_(rows), hidden_(hidden), begin_(begin), vocab_(vocab) {}

  absl::Status Run(const CpuOpArgs& args, PrecisionScratch& scratch) override {
    const ResolvedOperand& ids_operand = args.operands[0];
    BLOOM_ASSIGN_OR_RETURN(const int32_t* ids, Int32Values(ids_operand));
    for (int64_t t = 0; t < ids_operand.rows; ++t) {
      if (ids[t] < 0 || ids[t] >= vocab_) {
        return absl::InvalidArgumentError(absl::StrCat("token id ", ids[t], " at batch index ", t,
                                                       " is outside the vocabulary [0, ", vocab_,
                                                       ")"));
      }
    }
    BLOOM_ASSIGN_OR_RETURN(const float* table, scratch.Widen(args.operands[1], 1));
    BLOOM_ASSIGN_OR_RETURN(float* y, scratch.Output(args.results[0], 0));
    for (int64_t t = 0; t < ids_operand.rows; ++t) {
      const int64_t row = ids[t] - begin_;
      float* dst = y + t * hidden_;
      if (row >= 0 && row < rows_) {
        std::copy(table + row * hidden_, table + (row + 1) * hidden_, dst);
      } else {
        std::fill(dst, dst + hidden_, 0.f);
      }
    }
    return absl::OkStatus();
  }

 private:
  const int64_t rows_;    // the table's rows (this rank's part of the vocabulary)
  const int64_t hidden_;  // elements per row
  const int64_t begin_;   // the id of the table's first row
  const int64_t vocab_;   // the full vocabulary
};

}  // namespace

OpOrError MakeEmbeddingGatherOp(const plan::Plan& plan, const plan::Instruction& instruction) {
  const auto* params = instruction.kernel_as_EmbeddingGather();
  const plan::Tensor& table = *plan.tensors()->Get(instruction.operands()->Get(1));
  const int64_t rows = table.shape()->Get(0);
  const int64_t vocab = params->vocab_size() == 0 ? rows : params->vocab_size();
  return std::make_unique<EmbeddingGatherOp>(rows, ColumnsOf(table), params->vocab_begin(), vocab);
}

}  // namespace bloom::cpu_ops
