// Shape verifiers of the `bloom` ops. The token dimension may be dynamic, so
// dimensions are compared for compatibility: equal, or either one unknown.
#include "dialects/Bloom/BloomOps.h"

#include <cmath>

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

namespace bloom::graph {
namespace {

using mlir::LogicalResult;
using mlir::ShapedType;

constexpr int64_t kDynamic = ShapedType::kDynamic;

bool CompatibleDims(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

std::string DimString(int64_t dim) {
  return ShapedType::isDynamic(dim) ? "?" : std::to_string(dim);
}

ShapedType Shaped(mlir::Value value) {
  return mlir::cast<ShapedType>(value.getType());
}

// Checks that `actual` (of operand/result `what`) matches `expected`
// dimension by dimension.
LogicalResult CheckShape(mlir::Operation* op, llvm::StringRef what,
                         ShapedType actual, llvm::ArrayRef<int64_t> expected) {
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

LogicalResult CheckCache(mlir::Operation* op, KvCacheType cache, int64_t heads,
                         int64_t head_dim) {
  if (!CompatibleDims(heads, cache.getNumHeads()) ||
      !CompatibleDims(head_dim, cache.getHeadDim())) {
    return op->emitOpError() << "has " << DimString(heads) << " heads of "
                             << DimString(head_dim) << " but its cache " << cache
                             << " differs";
  }
  return mlir::success();
}

}  // namespace

LogicalResult WeightOp::verify() {
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
  bool dim = getSliceDim().has_value();
  if (dim != getSliceBegin().has_value() || dim != getSliceEnd().has_value()) {
    return emitOpError("needs all of slice_dim, slice_begin and slice_end or none");
  }
  if (dim) {
    int64_t axis = *getSliceDim(), begin = *getSliceBegin(), end = *getSliceEnd();
    if (axis < 0 || axis >= getType().getRank()) {
      return emitOpError() << "slices dimension " << axis << " of a rank-"
                           << getType().getRank() << " tensor";
    }
    if (begin < 0 || end <= begin || end - begin != getType().getDimSize(axis)) {
      return emitOpError() << "slice [" << begin << ", " << end
                           << ") of dimension " << axis
                           << " does not match the result " << getType();
    }
  }
  return mlir::success();
}

// The storage rules of runtime/support/quantized_storage.h, so that a graph
// the verifier accepts is one the runtime can describe.
LogicalResult DequantizeOp::verify() {
  auto values = getValues().getType();
  const int64_t rows = values.getDimSize(0), columns = values.getDimSize(1);
  const int64_t group = static_cast<int64_t>(getGroupSize());
  if (values.getElementType().isInteger(4) && columns % 2 != 0) {
    return emitOpError() << "int4 values pack two to a byte: the input dimension " << columns
                         << " must be even";
  }
  if (group > 0 && columns % group != 0) {
    return emitOpError() << "group size " << group << " does not divide the input dimension "
                         << columns;
  }
  if (group > 0 && values.getElementType().isInteger(4) && group % 2 != 0) {
    return emitOpError() << "int4 groups must start on a byte: group size " << group
                         << " must be even";
  }
  const int64_t groups = group == 0 ? 1 : columns / group;
  if (mlir::failed(CheckShape(*this, "scales", getScales().getType(), {rows, groups}))) {
    return mlir::failure();
  }
  if (getZeroPoints() &&
      mlir::failed(CheckShape(*this, "zero_points", getZeroPoints().getType(), {rows, groups}))) {
    return mlir::failure();
  }
  return CheckShape(*this, "result", getType(), {rows, columns});
}

LogicalResult EmbeddingOp::verify() {
  auto table = getTable().getType();
  if (getVocabBegin().has_value() != getVocabSize().has_value()) {
    return emitOpError("needs both vocab_begin and vocab_size or neither");
  }
  if (getVocabBegin()) {
    int64_t begin = *getVocabBegin(), vocab = *getVocabSize();
    if (begin < 0 || begin + table.getDimSize(0) > vocab) {
      return emitOpError() << "table rows [" << begin << ", "
                           << begin + table.getDimSize(0)
                           << ") do not lie in the vocabulary of " << vocab;
    }
  }
  return CheckShape(*this, "result", getType(),
                    {getIds().getType().getDimSize(0), table.getDimSize(1)});
}

LogicalResult LayerNormOp::verify() {
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

LogicalResult AddLayerNormOp::verify() {
  auto a = getA().getType();
  if (getB().getType() != a || getSum().getType() != a) {
    return emitOpError() << "a, b and sum must have one type, got " << a << ", "
                         << getB().getType() << " and " << getSum().getType();
  }
  int64_t hidden = a.getDimSize(1);
  if (mlir::failed(CheckShape(*this, "gamma", getGamma().getType(), {hidden})) ||
      mlir::failed(CheckShape(*this, "beta", getBeta().getType(), {hidden}))) {
    return mlir::failure();
  }
  if (!(getEpsilon().convertToFloat() > 0.0f)) {
    return emitOpError("epsilon must be positive");
  }
  return CheckShape(*this, "normed", getNormed().getType(), a.getShape());
}

LogicalResult LinearOp::verify() {
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

LogicalResult CastOp::verify() {
  return CheckShape(*this, "result", getType(), getX().getType().getShape());
}

mlir::OpFoldResult CastOp::fold(FoldAdaptor) {
  // A cast to the type it already has changes nothing.
  if (getX().getType() == getType()) return getX();
  return nullptr;
}

LogicalResult SplitHeadsOp::verify() {
  int64_t heads = static_cast<int64_t>(getNumHeads());
  int64_t head_dim = static_cast<int64_t>(getHeadDim());
  int64_t tokens = getQkv().getType().getDimSize(0);
  if (mlir::failed(CheckShape(*this, "qkv", getQkv().getType(),
                              {tokens, 3 * heads * head_dim}))) {
    return mlir::failure();
  }
  for (auto [what, value] : {std::pair<llvm::StringRef, mlir::Value>{"q", getQ()},
                             {"k", getK()},
                             {"v", getV()}}) {
    if (mlir::failed(CheckShape(*this, what, Shaped(value),
                                {tokens, heads, head_dim}))) {
      return mlir::failure();
    }
  }
  return mlir::success();
}

LogicalResult KvCacheAppendOp::verify() {
  auto k = getK().getType();
  if (getV().getType() != k) {
    return emitOpError() << "k and v must have one type, got " << k << " and "
                         << getV().getType();
  }
  KvCacheType cache = getCache().getType();
  if (cache.getElementType() != k.getElementType()) {
    return emitOpError() << "stores " << k.getElementType()
                         << " keys in a cache of " << cache.getElementType();
  }
  int64_t tokens = k.getDimSize(0);
  if (mlir::failed(CheckShape(*this, "positions", getPositions().getType(), {tokens})) ||
      mlir::failed(CheckShape(*this, "sequence_slots",
                              getSequenceSlots().getType(), {tokens}))) {
    return mlir::failure();
  }
  return CheckCache(*this, cache, k.getDimSize(1), k.getDimSize(2));
}

LogicalResult AttentionScoresOp::verify() {
  auto q = getQ().getType();
  if (!(getScale().convertToFloat() > 0.0f)) {
    return emitOpError("scale must be positive");
  }
  if (mlir::failed(CheckCache(*this, getCache().getType(), q.getDimSize(1),
                              q.getDimSize(2))) ||
      mlir::failed(CheckShape(*this, "sequence_slots",
                              getSequenceSlots().getType(), {q.getDimSize(0)}))) {
    return mlir::failure();
  }
  return CheckShape(*this, "scores", getType(),
                    {q.getDimSize(0), q.getDimSize(1), kDynamic});
}

LogicalResult AlibiBiasOp::verify() {
  auto scores = getScores().getType();
  int64_t heads = scores.getDimSize(1);
  if (!ShapedType::isDynamic(heads) &&
      static_cast<int64_t>(getAlibiSlopes().size()) != heads) {
    return emitOpError() << "needs one ALiBi slope per head: " << heads
                         << " heads, " << getAlibiSlopes().size() << " slopes";
  }
  return CheckShape(*this, "result", getType(), scores.getShape());
}

LogicalResult CausalMaskOp::verify() {
  auto scores = getScores().getType();
  if (mlir::failed(CheckShape(*this, "positions", getPositions().getType(),
                              {scores.getDimSize(0)}))) {
    return mlir::failure();
  }
  return CheckShape(*this, "result", getType(), scores.getShape());
}

LogicalResult SoftmaxOp::verify() {
  return CheckShape(*this, "result", getType(), getScores().getType().getShape());
}

LogicalResult AttentionContextOp::verify() {
  auto probs = getProbs().getType();
  KvCacheType cache = getCache().getType();
  if (mlir::failed(CheckCache(*this, cache, probs.getDimSize(1),
                              cache.getHeadDim())) ||
      mlir::failed(CheckShape(*this, "sequence_slots",
                              getSequenceSlots().getType(),
                              {probs.getDimSize(0)}))) {
    return mlir::failure();
  }
  return CheckShape(*this, "context", getType(),
                    {probs.getDimSize(0), cache.getNumHeads(), cache.getHeadDim()});
}

LogicalResult MergeHeadsOp::verify() {
  auto x = getX().getType();
  if (!x.hasStaticShape() && (x.isDynamicDim(1) || x.isDynamicDim(2))) {
    return emitOpError("needs static heads and head_dim");
  }
  return CheckShape(*this, "result", getType(),
                    {x.getDimSize(0), x.getDimSize(1) * x.getDimSize(2)});
}

LogicalResult AlibiAttentionOp::verify() {
  int64_t heads = getNumHeads();
  int64_t head_dim = getHeadDim();
  auto x = getX().getType();
  int64_t tokens = x.getDimSize(0);
  if (static_cast<int64_t>(getAlibiSlopes().size()) != heads) {
    return emitOpError() << "needs one ALiBi slope per head: " << heads
                         << " heads, " << getAlibiSlopes().size() << " slopes";
  }
  if (mlir::failed(CheckShape(*this, "qkv_weight", getQkvWeight().getType(),
                              {3 * heads * head_dim, x.getDimSize(1)})) ||
      (getQkvBias() &&
       mlir::failed(CheckShape(*this, "qkv_bias", getQkvBias().getType(),
                               {3 * heads * head_dim}))) ||
      mlir::failed(CheckShape(*this, "positions", getPositions().getType(),
                              {tokens})) ||
      mlir::failed(CheckShape(*this, "sequence_slots",
                              getSequenceSlots().getType(), {tokens}))) {
    return mlir::failure();
  }
  return CheckShape(*this, "result", getType(), {tokens, heads * head_dim});
}

LogicalResult GatherRowsOp::verify() {
  if (getX().getType().getElementType() != getType().getElementType()) {
    return emitOpError("copies rows: result and x must have one element type");
  }
  return CheckShape(*this, "result", getType(),
                    {getRows().getType().getDimSize(0),
                     getX().getType().getDimSize(1)});
}

LogicalResult LmHeadOp::verify() {
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

LogicalResult AllGatherOp::verify() {
  auto x = getX().getType();
  if (x.getElementType() != getType().getElementType()) {
    return emitOpError("result and x must have one element type");
  }
  int64_t columns = x.getDimSize(1);
  return CheckShape(*this, "result", getType(),
                    {x.getDimSize(0), ShapedType::isDynamic(columns)
                                          ? kDynamic
                                          : columns * getNumRanks()});
}

}  // namespace bloom::graph

#define GET_OP_CLASSES
#include "dialects/Bloom/BloomOps.cpp.inc"
