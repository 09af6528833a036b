#include "runtime/cpu/ops/quantized_operands.h"

#include "runtime/exec/plan_view.h"
#include "runtime/support/status_macros.h"

namespace bloom::cpu_ops {

size_t WeightOperandCount(const plan::WeightQuantization* quantization) {
  if (quantization == nullptr) return 1;
  return quantization->format() == plan::WeightFormat::Int4Grouped ? 3 : 2;
}

absl::StatusOr<cpu::QuantizedWeightView> QuantizedOperands(
    const CpuOpArgs& args, size_t first, const plan::WeightQuantization& quantization,
    PrecisionScratch& scratch, size_t scale_slot) {
  const ResolvedOperand& values = args.operands[first];
  cpu::QuantizedWeightView view;
  view.values_type = values.tensor->dtype() == plan::DType::I4 ? cpu::QuantizedValues::kInt4
                                                               : cpu::QuantizedValues::kInt8;
  view.values = values.data;
  view.rows = values.tensor->shape()->Get(0);
  view.cols = values.tensor->shape()->Get(1);
  view.group_size = quantization.group_size();
  BLOOM_ASSIGN_OR_RETURN(view.scales, scratch.Widen(args.operands[first + 1], scale_slot));
  view.zero_points = quantization.format() == plan::WeightFormat::Int4Grouped
                         ? static_cast<const int8_t*>(args.operands[first + 2].data)
                         : nullptr;
  return view;
}

}  // namespace bloom::cpu_ops
