// EmbeddingGather: out[t] = table[token_ids[t]]. A vocab-parallel table
// holds rows [begin, begin + rows) of a vocabulary of `vocab` ids; other
// ranks supply the other rows, and the AllReduce after this sums the ranks'
// (mostly zero) rows. A quantized table's rows are dequantized as read.
#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "runtime/cpu/ops/cpu_ops.h"
#include "runtime/cpu/ops/quantized_operands.h"
#include "runtime/exec/plan_view.h"
#include "runtime/support/status_macros.h"

namespace bloom::cpu_ops {
namespace {

class EmbeddingGatherOp : public CpuOp {
 public:
  EmbeddingGatherOp(int64_t rows, int64_t hidden, int64_t begin, int64_t vocab,
                    const plan::WeightQuantization* quantization)
      : rows_(rows), hidden_(hidden), begin_(begin), vocab_(vocab), quantization_(quantization) {}

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
    BLOOM_ASSIGN_OR_RETURN(float* y, scratch.Output(args.results[0], 0));
    // A quantized table is dequantized one looked-up row at a time.
    const float* table = nullptr;
    cpu::QuantizedWeightView quantized;
    if (quantization_ != nullptr) {
      BLOOM_ASSIGN_OR_RETURN(quantized, QuantizedOperands(args, 1, *quantization_, scratch, 1));
    } else {
      BLOOM_ASSIGN_OR_RETURN(table, scratch.Widen(args.operands[1], 1));
    }
    for (int64_t t = 0; t < ids_operand.rows; ++t) {
      const int64_t row = ids[t] - begin_;
      float* dst = y + t * hidden_;
      if (row < 0 || row >= rows_) {
        std::fill(dst, dst + hidden_, 0.f);
      } else if (quantization_ != nullptr) {
        cpu::DequantizeRows(quantized, row, row + 1, dst);
      } else {
        std::copy(table + row * hidden_, table + (row + 1) * hidden_, dst);
      }
    }
    return absl::OkStatus();
  }

 private:
  const int64_t rows_;    // the table's rows (this rank's part of the vocabulary)
  const int64_t hidden_;  // elements per row
  const int64_t begin_;   // the id of the table's first row
  const int64_t vocab_;   // the full vocabulary
  const plan::WeightQuantization* quantization_;  // null: a float table
};

}  // namespace

OpOrError MakeEmbeddingGatherOp(const plan::Plan& plan, const plan::Instruction& instruction) {
  const auto* params = instruction.kernel_as_EmbeddingGather();
  const plan::Tensor& table = *plan.tensors()->Get(instruction.operands()->Get(1));
  const int64_t rows = table.shape()->Get(0);
  const int64_t vocab = params->vocab_size() == 0 ? rows : params->vocab_size();
  return std::make_unique<EmbeddingGatherOp>(rows, ColumnsOf(table), params->vocab_begin(), vocab,
                                             params->quantization());
}

}  // namespace bloom::cpu_ops
