// The bytes of @step's weights by storage format, for the module attribute
// bloom.bytes_by_format and report.json: float weights by their element
// type ("f32", "bf16", "f16"), quantized ones (--bloom-quantize-weights)
// as "int8" or "int4" values, "scales" and "zero_points".
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "dialects/Bloom/BloomOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace bloom {

// The format a weight is counted under; a weight is one of a dequantize's
// operands, or read as it is.
std::string WeightFormatOf(graph::WeightOp weight);

// Bytes per format (TensorStorageBytes: int4 is half a byte an element);
// they sum to the step's weight bytes.
std::map<std::string, int64_t> WeightBytesByFormat(mlir::func::FuncOp step);

}  // namespace bloom
