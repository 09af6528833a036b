// A quantized weight's operands (plan.fbs: values, scales [, zero points]
// in the weight's place) as the CPU's dequantizing kernels read them
// (kernels/cpu/quantized_linear.h): values and zero points as their bytes,
// scales through PrecisionScratch (float32 when resident, F16 in a
// streamed slot).
#pragma once

#include <cstddef>

#include "absl/status/statusor.h"
#include "kernels/cpu/quantized_linear.h"
#include "runtime/cpu/cpu_op.h"
#include "runtime/plan/plan_generated.h"

namespace bloom::cpu_ops {

// The view of operands [first, first + 2 or 3) of `args` for a weight
// quantized as `quantization` says; the scales are widened into scratch
// slot `scale_slot`.
absl::StatusOr<cpu::QuantizedWeightView> QuantizedOperands(
    const CpuOpArgs& args, size_t first, const plan::WeightQuantization& quantization,
    PrecisionScratch& scratch, size_t scale_slot);

// Operands a weight takes: 1 for a float weight, else 2 (int8) or 3 (int4).
size_t WeightOperandCount(const plan::WeightQuantization* quantization);

}  // namespace bloom::cpu_ops
