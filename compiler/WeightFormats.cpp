#include "compiler/WeightFormats.h"

#include "compiler/Liveness.h"

namespace bloom {

std::string WeightFormatOf(graph::WeightOp weight) {
  for (mlir::OpOperand& use : weight.getResult().getUses()) {
    auto dequantize = mlir::dyn_cast<graph::DequantizeOp>(use.getOwner());
    if (!dequantize) continue;
    if (use.get() == dequantize.getScales()) return "scales";
    if (use.get() == dequantize.getZeroPoints()) return "zero_points";
    return weight.getType().getElementType().isInteger(4) ? "int4" : "int8";
  }
  std::string name;
  llvm::raw_string_ostream(name) << weight.getType().getElementType();
  return name;
}

std::map<std::string, int64_t> WeightBytesByFormat(mlir::func::FuncOp step) {
  std::map<std::string, int64_t> bytes;
  step.walk([&](graph::WeightOp weight) {
    bytes[WeightFormatOf(weight)] += TensorStorageBytes(weight.getType());
  });
  return bytes;
}

}  // namespace bloom
