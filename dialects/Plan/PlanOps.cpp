// Verifiers of the `plan` ops: arena placement of tensors (aligned, inside
// the arena, shaped as their row kind says), role uniqueness, and per-kernel
// operand counts, element types and shapes as plan.fbs documents them.
#include "dialects/Plan/PlanOps.h"

#include <string>

#include "dialects/Plan/ArenaCheck.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallSet.h"
#include "llvm/ADT/StringMap.h"
#include "mlir/IR/Builders.h"

namespace bloom::plan_ir {
namespace {

using mlir::LogicalResult;
using mlir::MemRefType;
using mlir::ShapedType;

int64_t ElementBytes(mlir::Type type) {
  return (type.getIntOrFloatBitWidth() + 7) / 8;
}

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
  return elements * ElementBytes(type.getElementType());
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

uint64_t SlotIndex(const llvm::StringMap<WeightUnitOp>& units, llvm::StringRef name) {
  return units.lookup(name).getSlot();
}

// The slot discipline of streamed weights, simulated in program order: a
// prefetch makes its unit the slot's pending occupant, an await (of that
// unit) makes it ready, and a kernel may read a streamed weight only while
// its unit is the ready occupant of its slot. Units are checked by their
// own verifiers; here only the order is.
LogicalResult VerifyWeightStreaming(ProgramOp program) {
  llvm::StringMap<WeightUnitOp> units;
  for (auto unit : program.getBody().getOps<WeightUnitOp>()) {
    if (!units.try_emplace(unit.getName(), unit).second) {
      return unit.emitOpError() << "repeats the unit name '" << unit.getName() << "'";
    }
  }
  // No two weights of one unit share bytes.
  llvm::StringMap<std::vector<std::pair<int64_t, WeightOp>>> members;
  for (auto weight : program.getBody().getOps<WeightOp>()) {
    if (weight.getStreamUnit() && weight.getSlotOffset()) {
      members[*weight.getStreamUnit()].push_back({*weight.getSlotOffset(), weight});
    }
  }
  for (auto& [name, weights] : members) {
    llvm::sort(weights, [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 1; i < weights.size(); ++i) {
      int64_t end = weights[i - 1].first + ArenaBytes(weights[i - 1].second.getType(), 1);
      if (weights[i].first < end) {
        return weights[i].second.emitOpError()
               << "overlaps '" << weights[i - 1].second.getName() << "' in unit '"
               << name << "'";
      }
    }
  }
  struct SlotState {
    llvm::StringRef unit;  // empty: nothing prefetched into the slot yet
    bool ready = false;
  };
  // Keyed by slot index, filled on first use: the slot count is an attribute
  // of the input and must not size an allocation. Slots out of range are
  // left to WeightUnitOp's verifier.
  const uint64_t num_slots = program.getNumWeightSlots().value_or(0);
  llvm::DenseMap<uint64_t, SlotState> slots;
  auto slot_of = [&](llvm::StringRef name) -> SlotState* {
    auto it = units.find(name);
    if (it == units.end()) return nullptr;
    uint64_t slot = it->second.getSlot();
    return slot < num_slots ? &slots[slot] : nullptr;
  };
  for (mlir::Operation& op : program.getBody().getOps()) {
    if (auto prefetch = mlir::dyn_cast<PrefetchWeightsOp>(op)) {
      SlotState* slot = slot_of(prefetch.getUnit());
      if (!slot) continue;
      // Every copy into a slot is awaited before the next one starts: a
      // runtime may run copies on several streams, and an unawaited copy
      // still writing the slot would race the next.
      if (!slot->unit.empty() && !slot->ready) {
        return prefetch.emitOpError()
               << "prefetches '" << prefetch.getUnit() << "' into slot "
               << SlotIndex(units, prefetch.getUnit()) << " while the copy of '"
               << slot->unit << "' into it is not yet awaited";
      }
      *slot = {prefetch.getUnit(), false};
      continue;
    }
    if (auto await = mlir::dyn_cast<AwaitWeightsOp>(op)) {
      SlotState* slot = slot_of(await.getUnit());
      if (slot && slot->unit != await.getUnit()) {
        return await.emitOpError()
               << "awaits '" << await.getUnit() << "' but the last prefetch into its slot "
               << (slot->unit.empty() ? std::string("is none")
                                      : "was of '" + slot->unit.str() + "'");
      }
      if (slot) slot->ready = true;
      continue;
    }
    if (mlir::isa<WeightOp, WeightUnitOp, InputOp, BufferOp>(op)) continue;
    for (mlir::Value operand : op.getOperands()) {
      auto weight = operand.getDefiningOp<WeightOp>();
      if (!weight || !weight.getStreamUnit()) continue;
      SlotState* slot = slot_of(*weight.getStreamUnit());
      if (slot && (slot->unit != *weight.getStreamUnit() || !slot->ready)) {
        return op.emitOpError()
               << "reads streamed weight '" << weight.getName() << "' of unit '"
               << *weight.getStreamUnit()
               << "' outside its await..prefetch window (its slot holds "
               << (slot->unit.empty() ? std::string("nothing")
                                      : "'" + slot->unit.str() + "'" +
                                            (slot->ready ? "" : ", not yet awaited"))
               << ")";
      }
    }
  }
  return mlir::success();
}

// The weight unit `name` of the program around `op`, or null with an error.
WeightUnitOp FindUnit(mlir::Operation* op, llvm::StringRef name) {
  auto program = op->getParentOfType<ProgramOp>();
  for (auto unit : program.getBody().getOps<WeightUnitOp>()) {
    if (unit.getName() == name) return unit;
  }
  op->emitOpError() << "names weight unit '" << name
                    << "', which the program does not declare";
  return nullptr;
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
  if (getMaxLogitRows() > getMaxBatchTokens()) {
    return emitOpError() << "max_logit_rows " << getMaxLogitRows()
                         << " exceeds max_batch_tokens " << getMaxBatchTokens();
  }
  if (std::optional<std::string> conflict =
          FindArenaConflict(LiveArenaRanges(*this))) {
    return emitOpError() << "arena: " << *conflict;
  }
  if (getNumWeightSlots().has_value() != getWeightSlotBytes().has_value()) {
    return emitOpError("needs both num_weight_slots and weight_slot_bytes or neither");
  }
  // A ring of one slot would serialize every copy with the compute that
  // reads the slot: the next unit's copy could only start after the last
  // read of the previous one.
  if (getNumWeightSlots() && *getNumWeightSlots() < 2) {
    return emitOpError() << "has " << *getNumWeightSlots()
                         << " weight slot; streaming needs a ring of at least 2";
  }
  if (getWeightSlotBytes() && *getWeightSlotBytes() % kWeightUnitAlignment != 0) {
    return emitOpError() << "weight slots of " << *getWeightSlotBytes()
                         << " bytes are not a multiple of " << kWeightUnitAlignment;
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
  }
  return mlir::success();
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
    if (begin < 0 || end <= begin || end - begin != getType().getDimSize(axis)) {
      return emitOpError() << "slice [" << begin << ", " << end
                           << ") of dimension " << axis
                           << " does not match the result " << getType();
    }
  }
  if (getStreamUnit().has_value() != getSlotOffset().has_value()) {
    return emitOpError("needs both stream_unit and slot_offset or neither");
  }
  if (getStreamUnit()) {
    WeightUnitOp unit = FindUnit(*this, *getStreamUnit());
    if (!unit) return mlir::failure();
    int64_t offset = *getSlotOffset();
    int64_t bytes = ArenaBytes(getType(), 1);
    if (offset < 0 || offset % kWeightSlotAlignment != 0 ||
        offset + bytes > static_cast<int64_t>(unit.getBytes())) {
      return emitOpError() << "at slot offset " << offset << " (" << bytes
                           << " bytes) is not a " << kWeightSlotAlignment
                           << "-aligned range inside unit '" << unit.getName()
                           << "' of " << unit.getBytes() << " bytes";
    }
  }
  return mlir::success();
}

LogicalResult WeightUnitOp::verify() {
  if (getName().empty()) return emitOpError("needs a non-empty name");
  auto program = getParentOp();
  if (!program.getNumWeightSlots()) {
    return emitOpError("needs the program's weight_slots(count, bytes)");
  }
  if (getSlot() >= *program.getNumWeightSlots()) {
    return emitOpError() << "streams into slot " << getSlot() << " of "
                         << *program.getNumWeightSlots();
  }
  if (getBytes() % kWeightUnitAlignment != 0) {
    return emitOpError() << "has " << getBytes() << " bytes, not a multiple of "
                         << kWeightUnitAlignment;
  }
  if (getBytes() > *program.getWeightSlotBytes()) {
    return emitOpError() << "has " << getBytes() << " bytes but a slot holds "
                         << *program.getWeightSlotBytes();
  }
  bool disk = getResidency() == Residency::Disk;
  if (disk != getFile().has_value()) {
    return emitOpError(disk ? "on disk needs a file and offset"
                            : "in host memory has no file");
  }
  if (disk) {
    llvm::StringRef file = *getFile();
    if (file.empty() || file.starts_with("/") || file == ".." ||
        file.starts_with("../") || file.contains("/../") || file.ends_with("/..")) {
      return emitOpError() << "file '" << file
                           << "' must be a path inside the plan directory";
    }
    if (*getFileOffset() % kWeightUnitAlignment != 0) {
      return emitOpError() << "file offset " << *getFileOffset()
                           << " is not a multiple of " << kWeightUnitAlignment;
    }
  }
  return mlir::success();
}

LogicalResult PrefetchWeightsOp::verify() {
  return mlir::success(FindUnit(*this, getUnit()) != nullptr);
}

LogicalResult AwaitWeightsOp::verify() {
  return mlir::success(FindUnit(*this, getUnit()) != nullptr);
}

RowDim InputOp::getRows() {
  return getRole() == TensorRole::LogitRows ? RowDim::LogitRows
                                            : RowDim::Tokens;
}

LogicalResult InputOp::verify() {
  if (getRole() == TensorRole::Logits) {
    return emitOpError("cannot have role logits: that is a plan.buffer's");
  }
  return VerifyArenaPlacement(*this, getType(), getRows(),
                              static_cast<int64_t>(getOffset()));
}

LogicalResult BufferOp::verify() {
  if (getName().empty()) return emitOpError("needs a non-empty name");
  if (std::optional<TensorRole> role = getRole()) {
    if (*role != TensorRole::Logits) {
      return emitOpError() << "cannot have role " << stringifyTensorRole(*role)
                           << ": that is a plan.input's";
    }
    if (getRows() != RowDim::LogitRows) {
      return emitOpError("with role logits must have rows logit_rows");
    }
  }
  return VerifyArenaPlacement(*this, getType(), getRows(),
                              static_cast<int64_t>(getOffset()));
}

//===----------------------------------------------------------------------===//
// Kernels.
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingGatherOp::verify() {
  if (mlir::failed(VerifyKernelOperands(*this, getIns(), getOut(), 2, 2))) {
    return mlir::failure();
  }
  mlir::Builder b(getContext());
  mlir::Value ids = getIns()[0], table = getIns()[1];
  if (TypeOf(table).getRank() != 2) {
    return emitOpError() << "table must be 2-D, got " << TypeOf(table);
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
  if (mlir::failed(VerifyKernelOperands(*this, getIns(), getOut(), 2, 3))) {
    return mlir::failure();
  }
  mlir::Builder b(getContext());
  MemRefType x = TypeOf(getIns()[0]);
  MemRefType weight = TypeOf(getIns()[1]);
  if (x.getRank() != 2 || weight.getRank() != 2) {
    return emitOpError() << "x and weight must be 2-D, got " << x << " and "
                         << weight;
  }
  int64_t out_features = weight.getDimSize(0);
  if (mlir::failed(Expect(*this, "x", getIns()[0], mlir::Type(),
                          {x.getDimSize(0), weight.getDimSize(1)})) ||
      mlir::failed(Expect(*this, "weight", getIns()[1], mlir::Type(),
                          weight.getShape()))) {
    return mlir::failure();
  }
  if (getIns().size() == 3 &&
      mlir::failed(Expect(*this, "bias", getIns()[2], mlir::Type(),
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
