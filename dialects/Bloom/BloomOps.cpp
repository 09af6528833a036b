// Shape verifiers of the `bloom` ops. The token dimension may be dynamic, so
// dimensions are compared for compatibility: equal, or either one unknown.
#include "dialects/Bloom/BloomOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

namespace bloom::graph {
namespace {

using mlir::ShapedType;

bool CompatibleDims(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

std::string DimString(int64_t dim) {
  return ShapedType::isDynamic(dim) ? "?" : std::to_string(dim);
}

// Checks that `actual` (of operand/result `what`) matches `expected`
// dimension by dimension.
mlir::LogicalResult CheckShape(mlir::Operation* op, llvm::StringRef what,
                               mlir::ShapedType actual,
                               llvm::ArrayRef<int64_t> expected) {
  bool ok = actual.getRank() == static_cast<int64_t>(expected.size());
  for (size_t i = 0; ok && i < expected.size(); ++i) {
    ok = CompatibleDims(actual.getDimSize(i), expected[i]);
  }
  if (ok) return mlir::success();
  std::string want;
  for (int64_t dim : expected) {
    want += (want.empty() ? "" : ", ") + DimString(dim);
  }
  return op->emitOpError() << what << " must have shape [" << want << "], got "
                           << actual;
}

}  // namespace

mlir::LogicalResult WeightOp::verify() {
  bool file = getFile().has_value();
  bool tensor = getTensor().has_value();
  bool dtype = getStoredDtype().has_value();
  if (file != tensor || file != dtype) {
    return emitOpError("needs all of file, tensor and stored_dtype or none");
  }
  if (getName().empty()) return emitOpError("needs a non-empty name");
  if (getType().getRank() < 1 || getType().getRank() > 2) {
    return emitOpError("result must be a 1-D or 2-D tensor");
  }
  return mlir::success();
}

mlir::LogicalResult EmbeddingOp::verify() {
  auto table = getTable().getType();
  return CheckShape(*this, "result", getType(),
                    {getIds().getType().getDimSize(0), table.getDimSize(1)});
}

mlir::LogicalResult LayerNormOp::verify() {
  int64_t hidden = getX().getType().getDimSize(1);
  if (mlir::failed(CheckShape(*this, "gamma", getGamma().getType(), {hidden})) ||
      mlir::failed(CheckShape(*this, "beta", getBeta().getType(), {hidden}))) {
    return mlir::failure();
  }
  if (!(getEpsilon().convertToFloat() > 0.0f)) {
    return emitOpError("epsilon must be positive");
  }
  return CheckShape(*this, "result", getType(), getX().getType().getShape());
}

mlir::LogicalResult LinearOp::verify() {
  auto x = getX().getType();
  auto weight = getWeight().getType();
  if (!CompatibleDims(weight.getDimSize(1), x.getDimSize(1))) {
    return emitOpError() << "weight " << weight
                         << " must be [out, in] with in = " << x.getDimSize(1);
  }
  if (getBias() &&
      mlir::failed(CheckShape(*this, "bias", getBias().getType(),
                              {weight.getDimSize(0)}))) {
    return mlir::failure();
  }
  return CheckShape(*this, "result", getType(),
                    {x.getDimSize(0), weight.getDimSize(0)});
}

mlir::LogicalResult AlibiAttentionOp::verify() {
  int64_t heads = getNumHeads();
  int64_t head_dim = getHeadDim();
  int64_t tokens = getQkv().getType().getDimSize(0);
  if (static_cast<int64_t>(getAlibiSlopes().size()) != heads) {
    return emitOpError() << "needs one ALiBi slope per head: " << heads
                         << " heads, " << getAlibiSlopes().size() << " slopes";
  }
  if (mlir::failed(CheckShape(*this, "qkv", getQkv().getType(),
                              {tokens, 3 * heads * head_dim})) ||
      mlir::failed(CheckShape(*this, "positions", getPositions().getType(),
                              {tokens})) ||
      mlir::failed(CheckShape(*this, "sequence_slots",
                              getSequenceSlots().getType(), {tokens}))) {
    return mlir::failure();
  }
  return CheckShape(*this, "result", getType(), {tokens, heads * head_dim});
}

mlir::LogicalResult GatherRowsOp::verify() {
  return CheckShape(*this, "result", getType(),
                    {getRows().getType().getDimSize(0),
                     getX().getType().getDimSize(1)});
}

mlir::LogicalResult LmHeadOp::verify() {
  auto x = getX().getType();
  auto weight = getWeight().getType();
  if (!CompatibleDims(weight.getDimSize(1), x.getDimSize(1))) {
    return emitOpError() << "weight " << weight
                         << " must be [vocab, hidden] with hidden = "
                         << x.getDimSize(1);
  }
  return CheckShape(*this, "result", getType(),
                    {x.getDimSize(0), weight.getDimSize(0)});
}

}  // namespace bloom::graph

#define GET_OP_CLASSES
#include "dialects/Bloom/BloomOps.cpp.inc"
