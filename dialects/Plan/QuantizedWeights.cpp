#include "dialects/Plan/QuantizedWeights.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

namespace bloom::plan_ir {
namespace {

using mlir::LogicalResult;
using mlir::MemRefType;

MemRefType TypeOf(mlir::Value value) { return mlir::cast<MemRefType>(value.getType()); }

bool IsFloat(mlir::Type type) { return type.isF32() || type.isF16() || type.isBF16(); }

bool IsQuantizedValues(mlir::Type type) { return type.isInteger(8) || type.isInteger(4); }

// The quantize(...) attributes of the plan.weight declaring `value`, or
// nullopt when it is not declared so (a packed tensor, or not a weight).
struct QuantizeAttrs {
  WeightOp weight;
  WeightFormat format;
  int64_t group_size;
  QuantizedPart part;
};

std::optional<QuantizeAttrs> QuantizeOf(mlir::Value value) {
  auto weight = value.getDefiningOp<WeightOp>();
  if (!weight || !weight.getQuantizeFormat()) return std::nullopt;
  return QuantizeAttrs{weight, *weight.getQuantizeFormat(),
                       static_cast<int64_t>(*weight.getGroupSize()), *weight.getPart()};
}

bool SameSource(WeightOp a, WeightOp b) {
  return a.getFile() == b.getFile() && a.getTensor() == b.getTensor() &&
         a.getStoredDtype() == b.getStoredDtype() && a.getSliceDim() == b.getSliceDim() &&
         a.getSliceBegin() == b.getSliceBegin() && a.getSliceEnd() == b.getSliceEnd();
}

}  // namespace

mlir::FailureOr<WeightOperands> ReadWeightOperands(mlir::Operation* op, mlir::ValueRange ins,
                                                   unsigned index, llvm::StringRef what) {
  if (index >= ins.size()) {
    op->emitOpError() << "has no " << what << " operand";
    return mlir::failure();
  }
  MemRefType values = TypeOf(ins[index]);
  WeightOperands weight;
  if (values.getRank() != 2) {
    op->emitOpError() << what << " must be 2-D, got " << values;
    return mlir::failure();
  }
  weight.rows = values.getDimSize(0);
  weight.cols = values.getDimSize(1);
  if (IsFloat(values.getElementType())) return weight;
  if (!IsQuantizedValues(values.getElementType())) {
    op->emitOpError() << what << " must be f32, f16 or bf16, or quantized i8 or i4, got "
                      << values;
    return mlir::failure();
  }
  const bool int4 = values.getElementType().isInteger(4);
  weight.format = int4 ? WeightFormat::Int4Grouped : WeightFormat::Int8PerChannel;
  weight.count = int4 ? 3 : 2;
  if (index + weight.count > ins.size()) {
    op->emitOpError() << "quantized " << what << " " << values << " needs "
                      << (int4 ? "scales and zero points" : "scales") << " operands after it";
    return mlir::failure();
  }
  MemRefType scales = TypeOf(ins[index + 1]);
  if (!scales.getElementType().isF16() || scales.getRank() != 2 ||
      scales.getDimSize(0) != weight.rows || scales.getDimSize(1) < 1 ||
      weight.cols % scales.getDimSize(1) != 0) {
    op->emitOpError() << what << " scales must be f16 [" << weight.rows
                      << ", G] with G dividing " << weight.cols << ", got " << scales;
    return mlir::failure();
  }
  weight.group_size = weight.cols / scales.getDimSize(1);
  if (!int4 && scales.getDimSize(1) != 1) {
    op->emitOpError() << what << " is int8, which is per output channel: its scales must be ["
                      << weight.rows << ", 1], got " << scales;
    return mlir::failure();
  }
  if (int4) {
    MemRefType zero_points = TypeOf(ins[index + 2]);
    if (zero_points.getShape() != scales.getShape() ||
        !zero_points.getElementType().isInteger(8)) {
      op->emitOpError() << what << " zero points must be i8 shaped as the scales "
                        << scales << ", got " << zero_points;
      return mlir::failure();
    }
    if (weight.group_size % 2 != 0) {
      op->emitOpError() << what << " int4 group size " << weight.group_size
                        << " is odd (groups start on a byte)";
      return mlir::failure();
    }
  }
  // Tensors quantized at load: one float source quantized one way, and
  // each operand the part its place says.
  const QuantizedPart parts[] = {QuantizedPart::Values, QuantizedPart::Scales,
                                 QuantizedPart::ZeroPoints};
  std::optional<QuantizeAttrs> first = QuantizeOf(ins[index]);
  for (unsigned i = 0; i < weight.count; ++i) {
    std::optional<QuantizeAttrs> attrs = QuantizeOf(ins[index + i]);
    if (attrs.has_value() != first.has_value()) {
      op->emitOpError() << what << "'s values, scales and zero points must all be quantized "
                                   "at load or all be stored quantized";
      return mlir::failure();
    }
    if (!attrs) continue;
    if (attrs->part != parts[i] || attrs->format != *weight.format ||
        attrs->group_size != weight.group_size || !SameSource(attrs->weight, first->weight)) {
      op->emitOpError() << what << " operand " << index + i << " ('"
                        << attrs->weight.getName() << "') must be quantize("
                        << stringifyWeightFormat(*weight.format)
                        << ", group = " << weight.group_size << ", "
                        << stringifyQuantizedPart(parts[i]) << ") of the values' source";
      return mlir::failure();
    }
  }
  return weight;
}

LogicalResult VerifyQuantizedWeight(WeightOp weight) {
  const bool format = weight.getQuantizeFormat().has_value();
  if (format != weight.getGroupSize().has_value() || format != weight.getPart().has_value()) {
    return weight.emitOpError("needs all of quantize's format, group and part or none");
  }
  mlir::Type element = weight.getType().getElementType();
  if (!format) {
    // A tensor loaded as stored: a float one in any float storage type,
    // packed quantized values only in their own type.
    std::optional<mlir::Type> stored = weight.getStoredDtype();
    if (stored && (IsQuantizedValues(element) || IsQuantizedValues(*stored)) &&
        element != *stored) {
      return weight.emitOpError() << "stores " << *weight.getStoredDtype() << " but is " << element
                                  << " (only a float tensor converts on load; quantize(...) "
                                     "makes quantized tensors from a float source)";
    }
    return mlir::success();
  }
  // (Without a source, a --shapes-only plan: there is nothing to check it
  // against, and the emitter refuses to write it.)
  if (weight.getStoredDtype() && !IsFloat(*weight.getStoredDtype())) {
    return weight.emitOpError() << "is quantized at load from a " << *weight.getStoredDtype()
                                << " tensor; the source must be f32, f16 or bf16";
  }
  if (weight.getType().getRank() != 2) {
    return weight.emitOpError() << "is part of a quantized weight and must be 2-D, got "
                                << weight.getType();
  }
  const bool int4 = *weight.getQuantizeFormat() == WeightFormat::Int4Grouped;
  mlir::Type expected;
  mlir::Builder b(weight.getContext());
  switch (*weight.getPart()) {
    case QuantizedPart::Values: expected = b.getIntegerType(int4 ? 4 : 8); break;
    case QuantizedPart::Scales: expected = b.getF16Type(); break;
    case QuantizedPart::ZeroPoints:
      if (!int4) return weight.emitOpError("int8 is symmetric: it has no zero points");
      expected = b.getI8Type();
      break;
  }
  if (element != expected) {
    return weight.emitOpError() << "is the " << stringifyQuantizedPart(*weight.getPart())
                                << " of an " << stringifyWeightFormat(*weight.getQuantizeFormat())
                                << " weight and must be " << expected << ", got " << element;
  }
  if (*weight.getPart() == QuantizedPart::Values) {
    const int64_t cols = weight.getType().getDimSize(1);
    const int64_t group = static_cast<int64_t>(*weight.getGroupSize());
    if (cols % group != 0 || (!int4 && group != cols)) {
      return weight.emitOpError() << "group " << group << " does not fit the input dimension "
                                  << cols << (int4 ? "" : " (int8 is per channel: group = K)");
    }
  }
  return mlir::success();
}

}  // namespace bloom::plan_ir
