// Verifiers of the `plan` ops: arena placement of tensors (aligned, inside
// the arena, shaped as their row kind says), role uniqueness, and per-kernel
// operand counts, element types and shapes as plan.fbs documents them.
#include "dialects/Plan/PlanOps.h"

#include <string>

#include "dialects/Plan/ArenaCheck.h"
#include "dialects/Plan/QuantizedWeights.h"
#include "dialects/Plan/WeightStreaming.h"
#include "llvm/ADT/SmallSet.h"
#include "mlir/IR/Builders.h"

namespace bloom::plan_ir {
namespace {

using mlir::LogicalResult;
using mlir::MemRefType;
using mlir::ShapedType;

bool CompatibleDims(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

std::string ShapeString(llvm::ArrayRef<int64_t> dims) {
  std::string out;
  for (int64_t dim : dims) {
    if (!out.empty()) out += ", ";
    out += ShapedType::isDynamic(dim) ? "?" : std::to_string(dim);
  }
  return "[" + out + "]";
}

MemRefType TypeOf(mlir::Value value) {
  return mlir::cast<MemRefType>(value.getType());
}

bool IsFloat(mlir::Type type) {
  return type.isF32() || type.isF16() || type.isBF16();
}

// Checks that `what` (an operand of `op`) has element type `element` (any
// float storage type when `element` is null: each tensor's storage type is
// the precision policy's choice, and kernels read and write any of them)
// and a shape compatible with `expected`.
LogicalResult Expect(mlir::Operation* op, llvm::StringRef what,
                     mlir::Value value, mlir::Type element,
                     llvm::ArrayRef<int64_t> expected) {
  MemRefType type = TypeOf(value);
  bool ok = (element ? type.getElementType() == element
                     : IsFloat(type.getElementType())) &&
            type.getRank() == static_cast<int64_t>(expected.size());
  for (size_t i = 0; ok && i < expected.size(); ++i) {
    ok = CompatibleDims(type.getDimSize(i), expected[i]);
  }
  if (ok) return mlir::success();
  auto diag = op->emitOpError() << what << " must be " << ShapeString(expected)
                                << " ";
  if (element) {
    diag << element;
  } else {
    diag << "f32, f16 or bf16";
  }
  return diag << ", got " << type;
}

// Every kernel reads tensors that the program declares and writes an arena
// activation; the runtime has nothing else to resolve operand indices to.
LogicalResult VerifyKernelOperands(mlir::Operation* op, mlir::ValueRange ins,
                                   mlir::Value out, size_t min_ins,
                                   size_t max_ins) {
  if (ins.size() < min_ins || ins.size() > max_ins) {
    auto diag = op->emitOpError() << "takes " << min_ins;
    if (max_ins != min_ins) diag << " or " << max_ins;
    return diag << " operands, got " << ins.size();
  }
  for (mlir::Value in : ins) {
    mlir::Operation* def = in.getDefiningOp();
    if (!def || !mlir::isa<WeightOp, InputOp, BufferOp>(def)) {
      return op->emitOpError(
          "operands must be declared by plan.weight, plan.input or plan.buffer");
    }
  }
  if (!out.getDefiningOp<BufferOp>()) {
    return op->emitOpError("result must be a plan.buffer");
  }
  return mlir::success();
}

// Checks a tensor that lives in the arena: the type matches its row kind,
// the offset is aligned, and its room (max_batch_tokens rows if the leading
// dimension is dynamic: the program's capacity for that row kind) ends
// inside the arena.
LogicalResult VerifyArenaPlacement(mlir::Operation* op, MemRefType type,
                                   RowDim rows, int64_t offset) {
  if (!type.getLayout().isIdentity() || type.getMemorySpace()) {
    return op->emitOpError("must be a memref with the identity layout");
  }
  bool dynamic_rows = rows != RowDim::Static;
  for (int64_t i = 0; i < type.getRank(); ++i) {
    bool want_dynamic = dynamic_rows && i == 0;
    if (type.isDynamicDim(i) != want_dynamic) {
      return op->emitOpError()
             << "with rows " << stringifyRowDim(rows) << " must have "
             << (dynamic_rows ? "a dynamic leading dimension and static others"
                              : "a static shape")
             << ", got " << type;
    }
  }
  if (dynamic_rows && type.getRank() == 0) {
    return op->emitOpError("with varying rows must have rank >= 1");
  }
  if (offset % kArenaAlignment != 0) {
    return op->emitOpError() << "offset " << offset << " is not a multiple of "
                             << kArenaAlignment;
  }
  auto program = op->getParentOfType<ProgramOp>();
  int64_t end = offset + ArenaBytes(type, program.capacityRows(rows));
  if (end > static_cast<int64_t>(program.getArenaBytes())) {
    return op->emitOpError() << "occupies bytes [" << offset << ", " << end
                             << ") past the arena's " << program.getArenaBytes();
  }
  return mlir::success();
}

}  // namespace

int64_t ArenaBytes(MemRefType type, int64_t capacity_rows) {
  int64_t elements = 1;
  for (int64_t dim : type.getShape()) {
    elements *= ShapedType::isDynamic(dim) ? capacity_rows : dim;
  }
  // In bits, so that packed int4 (two a byte) is counted as the runtime
  // stores it.
  return (elements * type.getElementType().getIntOrFloatBitWidth() + 7) / 8;
}

//===----------------------------------------------------------------------===//
// Program and tensors.
//===----------------------------------------------------------------------===//

int64_t ProgramOp::capacityRows(RowDim rows) {
  switch (rows) {
    case RowDim::Tokens: return static_cast<int64_t>(getMaxBatchTokens());
    case RowDim::LogitRows: return static_cast<int64_t>(getMaxLogitRows());
    case RowDim::Static: return 1;
  }
  return 1;
}

namespace {

// The arena's tensors with their live ranges in kernel order: from the
// first kernel that names a tensor to the last; inputs and the logits
// (roles: the host writes or reads them around the step) for the whole step.
std::vector<ArenaRange> LiveArenaRanges(ProgramOp program) {
  llvm::DenseMap<mlir::Value, size_t> index;
  std::vector<ArenaRange> ranges;
  int64_t kernels = 0;
  for (mlir::Operation& op : program.getBody().getOps()) {
    if (!mlir::isa<WeightOp, WeightUnitOp, InputOp, BufferOp>(op)) ++kernels;
  }
  auto declare = [&](mlir::Value value, llvm::StringRef name, int64_t offset,
                     RowDim rows, bool whole_step) {
    index[value] = ranges.size();
    ArenaRange range;
    range.name = name.str();
    range.offset = offset;
    range.bytes = ArenaBytes(TypeOf(value), program.capacityRows(rows));
    range.first = whole_step ? 0 : kernels;  // empty until named by a kernel
    range.last = whole_step ? kernels : -1;
    ranges.push_back(range);
  };
  int64_t step = 0;
  for (mlir::Operation& op : program.getBody().getOps()) {
    if (auto input = mlir::dyn_cast<InputOp>(op)) {
      declare(input, input.getName(), input.getOffset(), input.getRows(), true);
    } else if (auto buffer = mlir::dyn_cast<BufferOp>(op)) {
      declare(buffer, buffer.getName(), buffer.getOffset(), buffer.getRows(),
              buffer.getRole().has_value());
    } else if (!mlir::isa<WeightOp, WeightUnitOp>(op)) {
      for (mlir::Value operand : op.getOperands()) {
        auto it = index.find(operand);
        if (it == index.end()) continue;
        ArenaRange& range = ranges[it->second];
        range.first = std::min(range.first, step);
        range.last = std::max(range.last, step);
      }
      ++step;
    }
  }
  return ranges;
}

}  // namespace

LogicalResult ProgramOp::verify() {
  if (getTpRank().has_value() != getTpSize().has_value()) {
    return emitOpError("needs both tp_rank and tp_size or neither");
  }
  if (tpSize() < 1 || tpRank() < 0 || tpRank() >= tpSize()) {
    return emitOpError() << "tensor-parallel rank " << tpRank()
                         << " is not in [0, " << tpSize() << ")";
  }
  if (getPpStage().has_value() != getPpSize().has_value()) {
    return emitOpError("needs both pp_stage and pp_size or neither");
  }
  if (ppSize() < 1 || ppStage() < 0 || ppStage() >= ppSize()) {
    return emitOpError() << "pipeline stage " << ppStage() << " is not in [0, " << ppSize()
                         << ")";
  }
  if (getMaxLogitRows() > getMaxBatchTokens()) {
    return emitOpError() << "max_logit_rows " << getMaxLogitRows()
                         << " exceeds max_batch_tokens " << getMaxBatchTokens();
  }
  if (std::optional<std::string> conflict =
          FindArenaConflict(LiveArenaRanges(*this))) {
    return emitOpError() << "arena: " << *conflict;
  }
  if (mlir::failed(VerifyWeightStreaming(*this))) return mlir::failure();
  llvm::SmallSet<uint32_t, 8> seen;
  for (mlir::Operation& op : getBody().getOps()) {
    std::optional<TensorRole> role;
    if (auto input = mlir::dyn_cast<InputOp>(op)) role = input.getRole();
    if (auto buffer = mlir::dyn_cast<BufferOp>(op)) role = buffer.getRole();
    if (role && !seen.insert(static_cast<uint32_t>(*role)).second) {
      return op.emitOpError() << "repeats role " << stringifyTensorRole(*role)
                              << ", which must appear on one tensor only";
    }
    if (role && !stageHasRole(*role)) {
      return op.emitOpError() << "has role " << stringifyTensorRole(*role)
                              << ", which pipeline stage " << ppStage() << " of " << ppSize()
                              << " does not have";
    }
  }
  return mlir::success();
}

bool ProgramOp::stageHasRole(TensorRole role) {
  const bool first = ppStage() == 0;
  const bool last = ppStage() == ppSize() - 1;
  switch (role) {
    case TensorRole::TokenIds: return first;
    case TensorRole::HiddenIn: return !first;
    case TensorRole::LogitRows:
    case TensorRole::Logits: return last;
    case TensorRole::HiddenOut: return !last;
    default: return true;
  }
}

LogicalResult WeightOp::verify() {
  bool file = getFile().has_value();
  if (file != getTensor().has_value() || file != getStoredDtype().has_value()) {
    return emitOpError("needs all of file, tensor and stored_dtype or none");
  }
  if (getName().empty()) return emitOpError("needs a non-empty name");
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
    // The scales and zero points of a weight quantized at load are made from
    // its source's slice: [M, K / group] from [M, K].
    int64_t sliced = getType().getDimSize(axis);
    if (getPart() && *getPart() != QuantizedPart::Values && axis == 1) sliced *= *getGroupSize();
    if (begin < 0 || end <= begin || end - begin != sliced) {
      return emitOpError() << "slice [" << begin << ", " << end
                           << ") of dimension " << axis
                           << " does not match the result " << getType();
    }
  }
  if (mlir::failed(VerifyQuantizedWeight(*this))) return mlir::failure();
  return VerifyStreamedWeight(*this);
}

RowDim InputOp::getRows() {
  return getRole() == TensorRole::LogitRows ? RowDim::LogitRows
                                            : RowDim::Tokens;
}

// The residual stream at a pipeline cut: [T, hidden] floats.
static bool IsHiddenStateType(MemRefType type) {
  return type.getRank() == 2 && type.isDynamicDim(0) && !type.isDynamicDim(1) &&
         mlir::isa<mlir::FloatType>(type.getElementType());
}

LogicalResult InputOp::verify() {
  if (getRole() == TensorRole::Logits || getRole() == TensorRole::HiddenOut) {
    return emitOpError() << "cannot have role " << stringifyTensorRole(getRole())
                         << ": that is a plan.buffer's";
  }
  auto type = mlir::cast<MemRefType>(getResult().getType());
  if (getRole() == TensorRole::HiddenIn) {
    if (!IsHiddenStateType(type)) {
      return emitOpError() << "with role hidden_in must be memref<?xHIDDENxFLOAT>, got " << type;
    }
  } else if (type.getRank() != 1 || !type.getElementType().isInteger(32)) {
    return emitOpError() << "with role " << stringifyTensorRole(getRole())
                         << " must be memref<?xi32>, got " << type;
  }
  return VerifyArenaPlacement(*this, type, getRows(),
                              static_cast<int64_t>(getOffset()));
}

LogicalResult BufferOp::verify() {
  if (getName().empty()) return emitOpError("needs a non-empty name");
  if (std::optional<TensorRole> role = getRole()) {
    if (*role != TensorRole::Logits && *role != TensorRole::HiddenOut) {
      return emitOpError() << "cannot have role " << stringifyTensorRole(*role)
                           << ": that is a plan.input's";
    }
    if (*role == TensorRole::Logits && getRows() != RowDim::LogitRows) {
      return emitOpError("with role logits must have rows logit_rows");
    }
    if (*role == TensorRole::HiddenOut &&
        (getRows() != RowDim::Tokens || !IsHiddenStateType(getType()))) {
      return emitOpError() << "with role hidden_out must be memref<?xHIDDENxFLOAT> with rows "
                              "tokens, got "
                           << getType();
    }
  }
  return VerifyArenaPlacement(*this, getType(), getRows(),
                              static_cast<int64_t>(getOffset()));
}

//===----------------------------------------------------------------------===//
// Kernels.
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingGatherOp::verify() {
  if (mlir::failed(VerifyKernelOperands(*this, getIns(), getOut(), 2, 4))) {
    return mlir::failure();
  }
  mlir::Builder b(getContext());
  mlir::Value ids = getIns()[0], table = getIns()[1];
  mlir::FailureOr<WeightOperands> weight = ReadWeightOperands(*this, getIns(), 1, "table");
  if (mlir::failed(weight)) return mlir::failure();
  if (1 + weight->count != getIns().size()) {
    return emitOpError() << "takes token_ids and a " << (weight->format ? "quantized " : "")
                         << "table of " << weight->count << " operands, got "
                         << getIns().size() << " operands";
  }
  int64_t tokens = TypeOf(ids).getRank() == 1 ? TypeOf(ids).getDimSize(0)
                                              : ShapedType::kDynamic;
  if (getVocabBegin().has_value() != getVocabSize().has_value()) {
    return emitOpError("needs both vocab_begin and vocab_size or neither");
  }
  if (getVocabBegin()) {
    int64_t begin = *getVocabBegin(), vocab = *getVocabSize();
    int64_t rows = TypeOf(table).getDimSize(0);
    if (begin < 0 || begin + rows > vocab) {
      return emitOpError() << "table rows [" << begin << ", " << begin + rows
                           << ") do not lie in the vocabulary of " << vocab;
    }
  }
  return mlir::success(
      mlir::succeeded(Expect(*this, "token_ids", ids, b.getI32Type(), {tokens})) &&
      mlir::succeeded(Expect(*this, "out", getOut(), {},
                             {tokens, TypeOf(table).getDimSize(1)})));
}

LogicalResult LayerNormOp::verify() {
  if (mlir::failed(VerifyKernelOperands(*this, getIns(), getOut(), 3, 3))) {
    return mlir::failure();
  }
  mlir::Builder b(getContext());
  MemRefType x = TypeOf(getIns()[0]);
  if (x.getRank() != 2) return emitOpError() << "x must be 2-D, got " << x;
  int64_t hidden = x.getDimSize(1);
  if (!(getEpsilon().convertToFloat() > 0.0f)) {
    return emitOpError("epsilon must be positive");
  }
  return mlir::success(
      mlir::succeeded(Expect(*this, "x", getIns()[0], mlir::Type(),
                             {x.getDimSize(0), hidden})) &&
      mlir::succeeded(Expect(*this, "gamma", getIns()[1], mlir::Type(), {hidden})) &&
      mlir::succeeded(Expect(*this, "beta", getIns()[2], mlir::Type(), {hidden})) &&
      mlir::succeeded(Expect(*this, "out", getOut(), mlir::Type(), x.getShape())));
}

LogicalResult LinearOp::verify() {
  if (mlir::failed(VerifyKernelOperands(*this, getIns(), getOut(), 2, 5))) {
    return mlir::failure();
  }
  MemRefType x = TypeOf(getIns()[0]);
  mlir::FailureOr<WeightOperands> weight = ReadWeightOperands(*this, getIns(), 1, "weight");
  if (mlir::failed(weight)) return mlir::failure();
  if (x.getRank() != 2) return emitOpError() << "x must be 2-D, got " << x;
  const size_t bias_index = 1 + weight->count;
  if (getIns().size() > bias_index + 1) {
    return emitOpError() << "takes x, a weight of " << weight->count
                         << " operands and an optional bias, got " << getIns().size()
                         << " operands";
  }
  int64_t out_features = weight->rows;
  if (mlir::failed(Expect(*this, "x", getIns()[0], mlir::Type(),
                          {x.getDimSize(0), weight->cols}))) {
    return mlir::failure();
  }
  if (getIns().size() == bias_index + 1 &&
      mlir::failed(Expect(*this, "bias", getIns()[bias_index], mlir::Type(),
                          {out_features}))) {
    return mlir::failure();
  }
  return Expect(*this, "out", getOut(), mlir::Type(),
                {x.getDimSize(0), out_features});
}

LogicalResult GeluOp::verify() {
  if (mlir::failed(VerifyKernelOperands(*this, getIns(), getOut(), 1, 1))) {
    return mlir::failure();
  }
  if (getIns()[0].getType() != getOut().getType()) {
    return emitOpError("operand and result must have the same type");
  }
  return mlir::success();
}

LogicalResult AddOp::verify() {
  if (mlir::failed(VerifyKernelOperands(*this, getIns(), getOut(), 2, 2))) {
    return mlir::failure();
  }
  if (getIns()[0].getType() != getOut().getType() ||
      getIns()[1].getType() != getOut().getType()) {
    return emitOpError("operands and result must have the same type");
  }
  return mlir::success();
}

LogicalResult AlibiAttentionOp::verify() {
  if (mlir::failed(VerifyKernelOperands(*this, getIns(), getOut(), 3, 3))) {
    return mlir::failure();
  }
  int64_t heads = static_cast<int64_t>(getNumHeads());
  int64_t hidden = heads * static_cast<int64_t>(getHeadDim());
  if (static_cast<int64_t>(getAlibiSlopes().size()) != heads) {
    return emitOpError() << "needs one ALiBi slope per head: " << heads
                         << " heads, " << getAlibiSlopes().size() << " slopes";
  }
  mlir::Builder b(getContext());
  MemRefType qkv = TypeOf(getIns()[0]);
  int64_t tokens = qkv.getRank() > 0 ? qkv.getDimSize(0) : ShapedType::kDynamic;
  return mlir::success(
      // K and V are copied into the cache as they are in qkv.
      mlir::succeeded(Expect(*this, "qkv (stored as the KV cache)", getIns()[0],
                             getParentOp().getKvDtype(),
                             {tokens, 3 * hidden})) &&
      mlir::succeeded(Expect(*this, "positions", getIns()[1], b.getI32Type(), {tokens})) &&
      mlir::succeeded(Expect(*this, "sequence_slots", getIns()[2], b.getI32Type(),
                             {tokens})) &&
      mlir::succeeded(Expect(*this, "out", getOut(), mlir::Type(), {tokens, hidden})));
}

LogicalResult GatherRowsOp::verify() {
  if (mlir::failed(VerifyKernelOperands(*this, getIns(), getOut(), 2, 2))) {
    return mlir::failure();
  }
  mlir::Builder b(getContext());
  MemRefType x = TypeOf(getIns()[0]);
  MemRefType rows = TypeOf(getIns()[1]);
  if (x.getRank() != 2) return emitOpError() << "x must be 2-D, got " << x;
  int64_t count = rows.getRank() == 1 ? rows.getDimSize(0) : ShapedType::kDynamic;
  return mlir::success(
      mlir::succeeded(Expect(*this, "row_indices", getIns()[1], b.getI32Type(), {count})) &&
      mlir::succeeded(Expect(*this, "out", getOut(), mlir::Type(),
                             {count, x.getDimSize(1)})));
}

LogicalResult AddLayerNormOp::verify() {
  if (mlir::failed(VerifyKernelOperands(*this, getIns(), getSum(), 4, 4)) ||
      mlir::failed(VerifyKernelOperands(*this, getIns(), getNormed(), 4, 4))) {
    return mlir::failure();
  }
  if (!(getEpsilon().convertToFloat() > 0.0f)) {
    return emitOpError("epsilon must be positive");
  }
  MemRefType a = TypeOf(getIns()[0]);
  if (a.getRank() != 2) return emitOpError() << "a must be 2-D, got " << a;
  int64_t hidden = a.getDimSize(1);
  return mlir::success(
      mlir::succeeded(Expect(*this, "a", getIns()[0], mlir::Type(), a.getShape())) &&
      mlir::succeeded(Expect(*this, "b", getIns()[1], mlir::Type(), a.getShape())) &&
      mlir::succeeded(Expect(*this, "gamma", getIns()[2], mlir::Type(), {hidden})) &&
      mlir::succeeded(Expect(*this, "beta", getIns()[3], mlir::Type(), {hidden})) &&
      mlir::succeeded(Expect(*this, "sum", getSum(), mlir::Type(), a.getShape())) &&
      mlir::succeeded(Expect(*this, "normed", getNormed(), mlir::Type(), a.getShape())));
}

LogicalResult CastOp::verify() {
  if (mlir::failed(VerifyKernelOperands(*this, getIns(), getOut(), 1, 1))) {
    return mlir::failure();
  }
  MemRefType x = TypeOf(getIns()[0]);
  return mlir::success(
      mlir::succeeded(Expect(*this, "x", getIns()[0], mlir::Type(), x.getShape())) &&
      mlir::succeeded(Expect(*this, "out", getOut(), mlir::Type(), x.getShape())));
}

LogicalResult AllReduceOp::verify() {
  if (mlir::failed(VerifyKernelOperands(*this, getIns(), getOut(), 1, 1))) {
    return mlir::failure();
  }
  if (getIns()[0].getType() != getOut().getType()) {
    return emitOpError("operand and result must have the same type");
  }
  return mlir::success();
}

LogicalResult AllGatherOp::verify() {
  if (mlir::failed(VerifyKernelOperands(*this, getIns(), getOut(), 1, 1))) {
    return mlir::failure();
  }
  MemRefType x = TypeOf(getIns()[0]);
  if (x.getRank() != 2) return emitOpError() << "x must be 2-D, got " << x;
  int64_t ranks = getParentOp().tpSize();
  int64_t columns = x.getDimSize(1);
  return Expect(*this, "out", getOut(), x.getElementType(),
                {x.getDimSize(0),
                 ShapedType::isDynamic(columns) ? columns : columns * ranks});
}

}  // namespace bloom::plan_ir

#define GET_OP_CLASSES
#include "dialects/Plan/PlanOps.cpp.inc"
