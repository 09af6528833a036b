// EmbeddingGather: rows of an embedding table (a tensor-parallel rank's
// slice starts at vocab_begin) by token id; a quantized table's rows are
// dequantized as they are read.
#include "kernels/cuda/dequantize.cuh"
#include "kernels/cuda/embedding.cuh"
#include "runtime/cuda/ops/cuda_ops.h"
#include "runtime/cuda/quantized_weights.h"

namespace bloom::cuda_ops {
namespace {

class EmbeddingGatherOp : public CudaOp {
 public:
  EmbeddingGatherOp(const CudaOpContext& context, const plan::Instruction& instruction)
      : instruction_(instruction),
        ids_rows_(context.plan_tensor(instruction.operands()->Get(0))),
        ids_(context.tensor(instruction.operands()->Get(0))),
        table_(context.tensor(instruction.operands()->Get(1))),
        table_rows_(context.plan_tensor(instruction.operands()->Get(1)).shape()->Get(0)),
        vocab_begin_(instruction.kernel_as_EmbeddingGather()->vocab_begin()),
        y_(context.tensor(instruction.results()->Get(0))) {}

  absl::Status Run(const StepShape& shape, cudaStream_t stream) override {
    return LaunchStatus(cuda::LaunchEmbeddingGather(static_cast<const int32_t*>(ids_.data),
                                                    RowsAt(ids_rows_, shape.rows()), table_.data,
                                                    table_.dtype, table_rows_, vocab_begin_,
                                                    table_.columns, y_.data, y_.dtype, stream),
                        instruction_);
  }

 private:
  const plan::Instruction& instruction_;
  const plan::Tensor& ids_rows_;
  const DeviceTensor ids_, table_;
  const int64_t table_rows_;
  const int64_t vocab_begin_;
  const DeviceTensor y_;
};

// The same lookup in a quantized table (values, scales [, zero points]):
// each looked-up row dequantized as it is read.
class QuantizedEmbeddingGatherOp : public CudaOp {
 public:
  QuantizedEmbeddingGatherOp(const CudaOpContext& context, const plan::Instruction& instruction)
      : instruction_(instruction),
        ids_rows_(context.plan_tensor(instruction.operands()->Get(0))),
        ids_(context.tensor(instruction.operands()->Get(0))),
        table_(DeviceQuantizedWeight(context, instruction, 1)),
        vocab_begin_(instruction.kernel_as_EmbeddingGather()->vocab_begin()),
        y_(context.tensor(instruction.results()->Get(0))) {}

  absl::Status Run(const StepShape& shape, cudaStream_t stream) override {
    return LaunchStatus(cuda::LaunchQuantizedEmbeddingGather(
                            static_cast<const int32_t*>(ids_.data), RowsAt(ids_rows_, shape.rows()),
                            table_, vocab_begin_, y_.data, y_.dtype, stream),
                        instruction_);
  }

 private:
  const plan::Instruction& instruction_;
  const plan::Tensor& ids_rows_;
  const DeviceTensor ids_;
  const cuda::QuantizedWeight table_;
  const int64_t vocab_begin_;
  const DeviceTensor y_;
};

}  // namespace

OpOrError MakeEmbeddingGather(const CudaOpContext& context, size_t index) {
  const plan::Instruction& instruction = *context.plan->instructions()->Get(index);
  if (instruction.kernel_as_EmbeddingGather()->quantization() != nullptr) {
    return std::make_unique<QuantizedEmbeddingGatherOp>(context, instruction);
  }
  return std::make_unique<EmbeddingGatherOp>(context, *context.plan->instructions()->Get(index));
}

}  // namespace bloom::cuda_ops
