#include "runtime/cuda/quantized_weights.h"

#include <algorithm>

#include "runtime/exec/plan_view.h"

namespace bloom {
namespace {

// The quantization of an instruction's weight operand, or null.
const plan::WeightQuantization* QuantizationOf(const plan::Instruction& instruction) {
  if (const auto* linear = instruction.kernel_as_Linear()) return linear->quantization();
  if (const auto* embedding = instruction.kernel_as_EmbeddingGather()) {
    return embedding->quantization();
  }
  return nullptr;
}

}  // namespace

QuantizedDeviceLayout::QuantizedDeviceLayout(const plan::Plan& plan,
                                             const std::function<bool(uint32_t)>& streamed) {
  for (const plan::Instruction* instruction : *plan.instructions()) {
    const plan::WeightQuantization* quantization = QuantizationOf(*instruction);
    if (quantization == nullptr) continue;
    const auto* operands = instruction->operands();
    QuantizedGroup group;
    group.values = operands->Get(1);
    group.scales = operands->Get(2);
    if (quantization->format() == plan::WeightFormat::Int4Grouped) {
      group.zero_points = operands->Get(3);
    }
    const plan::Tensor& values = *plan.tensors()->Get(group.values);
    group.format = ToDType(values.dtype());
    group.rows = values.shape()->Get(0);
    group.cols = values.shape()->Get(1);
    group.group_size = quantization->group_size();
    group.tiled = !(streamed && streamed(group.values)) &&
                  cuda::QuantizedTilesApply(group.format, group.rows, group.cols,
                                            group.group_size, group.zero_points >= 0);
    if (by_values_.count(group.values)) continue;  // a tied table: read twice, one weight
    by_values_[group.values] = group;
    if (!group.tiled) continue;
    size_t parts = 0;
    for (int64_t id : {static_cast<int64_t>(group.values), static_cast<int64_t>(group.scales),
                       group.zero_points}) {
      if (id < 0) continue;
      const plan::Tensor& t = *plan.tensors()->Get(static_cast<uint32_t>(id));
      parts += DeviceAlignUp(static_cast<size_t>(BytesOf(t, t.shape()->Get(0))));
    }
    staging_bytes_ = std::max(staging_bytes_, parts);
    if (group.format == DType::kI4) {
      inside_tiles_[group.scales] = group.values;
      inside_tiles_[static_cast<uint32_t>(group.zero_points)] = group.values;
    }
  }
}

const QuantizedGroup* QuantizedDeviceLayout::GroupOfValues(uint32_t values) const {
  auto it = by_values_.find(values);
  return it == by_values_.end() ? nullptr : &it->second;
}

bool QuantizedDeviceLayout::InsideTiles(uint32_t index) const {
  return inside_tiles_.count(index) > 0;
}

size_t QuantizedDeviceLayout::DeviceBytes(const plan::Plan& plan, uint32_t index) const {
  if (InsideTiles(index)) return 0;
  if (const QuantizedGroup* group = GroupOfValues(index); group != nullptr && group->tiled) {
    return cuda::QuantizedTilesBytes(group->format, group->rows, group->cols, group->group_size);
  }
  const plan::Tensor& t = *plan.tensors()->Get(index);
  return static_cast<size_t>(BytesOf(t, t.shape()->Get(0)));
}

cuda::QuantizedWeight RowMajorView(const QuantizedGroup& group, const void* values,
                                   const void* scales, const void* zero_points) {
  cuda::QuantizedWeight weight;
  weight.format = group.format;
  weight.layout = cuda::QuantizedLayout::kRowMajor;
  weight.out_features = group.rows;
  weight.in_features = group.cols;
  weight.group_size = group.group_size;
  weight.values = values;
  weight.scales = scales;
  weight.zero_points = static_cast<const int8_t*>(zero_points);
  return weight;
}

cuda::QuantizedWeight DeviceQuantizedWeight(const CudaOpContext& context,
                                            const plan::Instruction& instruction, size_t first) {
  const auto* operands = instruction.operands();
  const QuantizedGroup* group = context.quantized->GroupOfValues(operands->Get(first));
  cuda::QuantizedWeight weight = RowMajorView(
      *group, context.tensor(group->values).data, context.tensor(group->scales).data,
      group->zero_points >= 0 ? context.tensor(static_cast<uint32_t>(group->zero_points)).data
                              : nullptr);
  if (group->tiled) weight = cuda::TiledView(weight, context.tensor(group->values).data);
  return weight;
}

}  // namespace bloom
