// --bloom-partition-pp (see Passes.td): keeps pipeline stage `stage`'s part
// of @step, a contiguous range of transformer layers, and turns the residual
// stream at each cut into a step result (the stage before the cut) and a
// step argument (the stage after it).
//
// Every non-weight op of @step belongs to one unit, in program order: the
// ops before the first layer's are the embedding unit (embedding, its norm),
// an op whose first tensor name is "h.N...." is layer N (a fused
// add_layer_norm "h.N.output"+"h.(N+1).attn_norm" is layer N's), and the
// ops after the last layer's are the head unit (ln_f, gather_rows, lm_head).
// A weight stays where an op that reads it stays.
#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compiler/KernelContract.h"
#include "compiler/Liveness.h"
#include "compiler/Passes.h"
#include "dialects/Bloom/BloomOps.h"
#include "dialects/Bloom/TensorNames.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SetVector.h"
#include "mlir/IR/Builders.h"

namespace bloom {

#define GEN_PASS_DEF_BLOOMPARTITIONPP
#include "compiler/Passes.h.inc"

namespace {

using mlir::Operation;
using mlir::Value;

// The bytes a decode step reads, by unit.
struct UnitCosts {
  int64_t embedding = 0;            // stage 0's extra (its norm)
  std::vector<int64_t> layers;      // per layer
  int64_t head = 0;                 // the last stage's extra
};

struct StageRange {
  int64_t begin, end;  // layers [begin, end)
};

// The stage ranges: contiguous, at least one layer each, whose largest stage
// cost B is the smallest possible, where a stage's cost is its layers' bytes
// plus the embedding unit's on stage 0 (its norm: the gather reads a few
// rows, see Costs) and the head unit's on the last (the LM head's whole
// table, tied or not). Among the splits that reach B, each stage in turn
// takes as many layers as it can while the later stages can still stay
// within B. So for equal layers of cost c and pp=2, layers 0..L-1: stage 0
// takes the most layers k with embedding + k·c <= B and
// head + (L-k)·c <= B.
//
// best[s][i]: the smallest bottleneck of layers [i, L) over stages s..pp-1.
std::vector<StageRange> ChooseStageRanges(const UnitCosts& costs, int64_t pp) {
  const int64_t L = static_cast<int64_t>(costs.layers.size());
  std::vector<int64_t> prefix(L + 1, 0);
  for (int64_t i = 0; i < L; ++i) prefix[i + 1] = prefix[i] + costs.layers[i];
  auto cost = [&](int64_t s, int64_t i, int64_t e) {
    return prefix[e] - prefix[i] + (s == 0 ? costs.embedding : 0) +
           (s == pp - 1 ? costs.head : 0);
  };
  constexpr int64_t kNone = INT64_MAX;
  std::vector<std::vector<int64_t>> best(pp + 1, std::vector<int64_t>(L + 1, kNone));
  best[pp][L] = 0;
  for (int64_t s = pp - 1; s >= 0; --s) {
    for (int64_t i = 0; i < L; ++i) {
      for (int64_t e = i + 1; e <= L; ++e) {
        if (best[s + 1][e] == kNone) continue;
        best[s][i] = std::min(best[s][i], std::max(cost(s, i, e), best[s + 1][e]));
      }
    }
  }
  const int64_t bottleneck = best[0][0];
  std::vector<StageRange> ranges;
  int64_t i = 0;
  for (int64_t s = 0; s < pp; ++s) {
    int64_t end = i + 1;
    for (int64_t e = i + 1; e <= L; ++e) {
      if (cost(s, i, e) <= bottleneck && best[s + 1][e] <= bottleneck) end = e;
    }
    ranges.push_back({i, end});
    i = end;
  }
  return ranges;
}

// Units: kEmbedding, then layers 0..L-1, then kHead (as sorted ints).
constexpr int64_t kEmbedding = -1;
constexpr int64_t kHead = INT64_MAX;
// An op no stage keeps (a fused add_layer_norm split at a cut).
constexpr int64_t kDropped = INT64_MIN;

class StageCut {
 public:
  StageCut(mlir::func::FuncOp step, int64_t pp, int64_t stage)
      : step_(step), b_(step.getContext()), pp_(pp), stage_(stage) {}

  mlir::LogicalResult Run() {
    if (mlir::failed(AssignUnits())) return mlir::failure();
    if (pp_ > layers_) {
      return step_.emitError() << "bloom-partition-pp: pp=" << pp_
                               << " stages need at least one layer each, but the "
                                  "graph has "
                               << layers_ << " layers";
    }
    std::vector<StageRange> ranges = ChooseStageRanges(Costs(), pp_);
    begin_ = ranges[stage_].begin;
    end_ = ranges[stage_].end;
    return Cut();
  }

  int64_t begin() const { return begin_; }
  int64_t end() const { return end_; }

 private:
  bool Kept(int64_t unit) const {
    if (unit == kDropped) return false;
    if (unit == kEmbedding) return stage_ == 0;
    if (unit == kHead) return stage_ == pp_ - 1;
    return unit >= begin_ && unit < end_;
  }

  mlir::LogicalResult AssignUnits() {
    int64_t last = kEmbedding;
    bool after_layers = false;
    for (Operation& op : step_.getBody().front().without_terminator()) {
      if (mlir::isa<graph::WeightOp>(op)) continue;
      if (mlir::isa<graph::AllReduceOp, graph::AllGatherOp>(op)) {
        return op.emitError(
            "bloom-partition-pp: the graph is tensor-parallel already; run "
            "--bloom-partition-pp before --bloom-partition-tp");
      }
      llvm::SmallVector<std::string> names = graph::TensorNames(op.getLoc());
      std::optional<int64_t> layer =
          names.empty() ? std::nullopt : graph::LayerOfTensorName(names.front());
      int64_t unit;
      if (layer) {
        if (after_layers || *layer < last || (last != kEmbedding && *layer > last + 1) ||
            (last == kEmbedding && *layer != 0)) {
          return op.emitError() << "bloom-partition-pp: layer " << *layer
                                << "'s op is out of order (after layer " << last
                                << "); stages cut contiguous layers 0, 1, ...";
        }
        unit = last = *layer;
      } else {
        unit = last == kEmbedding ? kEmbedding : kHead;
        after_layers = last != kEmbedding;
      }
      units_[&op] = unit;
    }
    layers_ = last + 1;
    if (layers_ == 0) {
      return step_.emitError(
          "bloom-partition-pp: no transformer layers (no op named h.N.*)");
    }
    return mlir::success();
  }

  // Each weight's bytes, once for every unit that reads it, as many as a
  // decode step reads there. The embedding gather reads T rows of its table,
  // T = the step's tokens (a decode step's batch): at most max-sequences
  // rows of a vocabulary of tens of thousands, and T is not known before
  // --bloom-plan-memory, so it is charged 0 rows. The tied LM head reads the
  // whole table, so a tied table costs the last stage and not the first.
  UnitCosts Costs() {
    UnitCosts costs;
    costs.layers.assign(layers_, 0);
    for (Operation& op : step_.getBody().front()) {
      auto weight = mlir::dyn_cast<graph::WeightOp>(op);
      if (!weight) continue;
      const int64_t bytes = TensorStorageBytes(weight.getType());
      std::map<int64_t, int64_t> read;  // unit -> bytes (kHead is DenseMap's empty key)
      for (mlir::OpOperand& use : weight->getUses()) {
        auto it = units_.find(use.getOwner());
        if (it == units_.end()) continue;
        auto gather = mlir::dyn_cast<graph::EmbeddingOp>(use.getOwner());
        const int64_t step_bytes =
            gather && use.get() == gather.getTable() ? 0 : bytes;
        int64_t& unit_bytes = read[it->second];
        unit_bytes = std::max(unit_bytes, step_bytes);
      }
      for (auto [unit, step_bytes] : read) {
        if (unit == kEmbedding) costs.embedding += step_bytes;
        else if (unit == kHead) costs.head += step_bytes;
        else costs.layers[unit] += step_bytes;
      }
    }
    return costs;
  }

  // The values defined by an op of one side and read by an op of the other:
  // `incoming` (dropped → kept) or outgoing (kept → dropped).
  llvm::SmallSetVector<Value, 2> Crossing(bool incoming) {
    llvm::SmallSetVector<Value, 2> values;
    for (auto& [op, unit] : units_) {
      if (Kept(unit) == incoming) continue;
      for (Value result : op->getResults()) {
        for (Operation* user : result.getUsers()) {
          auto it = units_.find(user);
          if (it != units_.end() && Kept(it->second) == incoming) values.insert(result);
        }
      }
    }
    return values;
  }

  // The one residual-stream value at a cut. A fused add_layer_norm may have
  // both its sum and its normed sum crossing: the sum is the stream, the norm
  // is recomputed on the other side (SplitNorm).
  mlir::FailureOr<Value> CutValue(bool incoming, llvm::StringRef where) {
    llvm::SmallSetVector<Value, 2> values = Crossing(incoming);
    if (values.size() == 1) return values.front();
    if (values.size() == 2) {
      auto fused = values[0].getDefiningOp<graph::AddLayerNormOp>();
      if (fused && values[1].getDefiningOp() == fused) return fused.getSum();
    }
    return step_.emitError() << "bloom-partition-pp: the cut " << where << " stage "
                             << stage_ << " crosses " << values.size()
                             << " values; a stage cut carries only the residual "
                                "stream";
  }

  mlir::LogicalResult Cut() {
    mlir::Block& body = step_.getBody().front();
    Operation* terminator = body.getTerminator();
    std::optional<Value> in, out;
    if (stage_ > 0) {
      mlir::FailureOr<Value> value = CutValue(/*incoming=*/true, "before");
      if (mlir::failed(value)) return mlir::failure();
      in = *value;
    }
    if (stage_ < pp_ - 1) {
      mlir::FailureOr<Value> value = CutValue(/*incoming=*/false, "after");
      if (mlir::failed(value)) return mlir::failure();
      out = *value;
    }
    if (in) {
      // The hidden state replaces the token ids (argument 0).
      Value hidden = body.insertArgument(0u, in->getType(),
                                         mlir::NameLoc::get(b_.getStringAttr("hidden_in")));
      if (auto fused = in->getDefiningOp<graph::AddLayerNormOp>()) {
        // The next layer's norm of the stream, recomputed from the argument
        // where the fused op was (after its gamma and beta).
        b_.setInsertionPoint(fused);
        auto norm = b_.create<graph::LayerNormOp>(
            NameOfResult(fused, 1), fused.getNormed().getType(), hidden, fused.getGamma(), fused.getBeta(),
            fused.getEpsilonAttr(), fused.getPrecisionAttr());
        ReplaceKeptUses(fused.getNormed(), norm.getResult());
      }
      ReplaceKeptUses(*in, hidden);
    }
    if (out) {
      if (auto fused = out->getDefiningOp<graph::AddLayerNormOp>()) {
        if (!HasKeptUse(fused.getNormed())) {
          // Its norm belongs to the next stage: keep the sum alone.
          b_.setInsertionPoint(fused);
          auto add = b_.create<graph::AddOp>(NameOfResult(fused, 0), fused.getSum().getType(), fused.getA(),
                                             fused.getB(), fused.getPrecisionAttr());
          units_[add.getOperation()] = units_[fused.getOperation()];
          ReplaceKeptUses(fused.getSum(), add.getResult());
          units_[fused.getOperation()] = kDropped;
          out = add.getResult();
        }
      }
      terminator->setOperands(*out);
    }
    // Drop the other stages' ops, last first, then the weights nobody reads.
    llvm::SmallVector<Operation*> ops;
    for (Operation& op : body.without_terminator()) ops.push_back(&op);
    for (auto it = ops.rbegin(); it != ops.rend(); ++it) {
      Operation* op = *it;
      auto unit = units_.find(op);
      if (unit == units_.end() || Kept(unit->second)) continue;
      op->dropAllUses();
      op->erase();
    }
    for (auto it = ops.rbegin(); it != ops.rend(); ++it) {
      if (mlir::isa<graph::WeightOp>(*it) && (*it)->use_empty()) (*it)->erase();
    }
    // The stage's KV cache holds its layers only, so its cache layers count
    // from the stage's first (--bloom-plan-memory sizes the cache by the
    // largest layer index).
    body.walk([&](Operation* op) {
      if (auto attention = mlir::dyn_cast<graph::AlibiAttentionOp>(op)) {
        attention.setLayer(attention.getLayer() - static_cast<uint64_t>(begin_));
      } else if (auto append = mlir::dyn_cast<graph::KvCacheAppendOp>(op)) {
        append.setLayer(append.getLayer() - static_cast<uint64_t>(begin_));
      }
    });
    // Stage interface (runtime/plan/plan.fbs): a stage that is not the last
    // takes no logit rows; the first keeps its token ids.
    if (in) {
      if (!body.getArgument(1).use_empty()) {
        return step_.emitError("bloom-partition-pp: the token ids are read after stage 0");
      }
      body.eraseArgument(1);  // the token ids
    }
    if (out) {
      if (!body.getArgument(body.getNumArguments() - 1).use_empty()) {
        return step_.emitError("bloom-partition-pp: the logit rows are read before the "
                               "last stage");
      }
      body.eraseArgument(body.getNumArguments() - 1);
    }
    llvm::SmallVector<mlir::Type> args(body.getArgumentTypes());
    step_.setFunctionType(
        mlir::FunctionType::get(step_.getContext(), args, terminator->getOperandTypes()));
    return mlir::success();
  }

  // The location naming result `index` of a fused op alone.
  mlir::Location NameOfResult(Operation* fused, unsigned index) {
    llvm::SmallVector<std::string> names = graph::TensorNames(fused->getLoc());
    if (names.size() <= index) return fused->getLoc();
    return mlir::NameLoc::get(b_.getStringAttr(names[index]));
  }

  bool HasKeptUse(Value value) {
    for (Operation* user : value.getUsers()) {
      auto it = units_.find(user);
      if (it != units_.end() && Kept(it->second)) return true;
    }
    return false;
  }

  void ReplaceKeptUses(Value from, Value to) {
    from.replaceUsesWithIf(to, [&](mlir::OpOperand& use) {
      auto it = units_.find(use.getOwner());
      return it != units_.end() && Kept(it->second);
    });
  }

  mlir::func::FuncOp step_;
  mlir::OpBuilder b_;
  const int64_t pp_;
  const int64_t stage_;
  int64_t layers_ = 0;
  int64_t begin_ = 0, end_ = 0;
  llvm::DenseMap<Operation*, int64_t> units_;
};

class BloomPartitionPpPass
    : public impl::BloomPartitionPpBase<BloomPartitionPpPass> {
 public:
  using BloomPartitionPpBase::BloomPartitionPpBase;

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    const int64_t pp = this->pp, stage = this->stage;
    if (pp < 1) {
      module.emitError() << "bloom-partition-pp: pp=" << pp << " must be at least 1";
      return signalPassFailure();
    }
    if (stage < 0 || stage >= pp) {
      module.emitError() << "bloom-partition-pp: stage=" << stage
                         << " must be in [0, pp=" << pp << ")";
      return signalPassFailure();
    }
    if (module->hasAttr(kPpSizeAttr)) {
      module.emitError("bloom-partition-pp: the module is already cut into stages");
      return signalPassFailure();
    }
    auto step = module.lookupSymbol<mlir::func::FuncOp>("step");
    if (!step || !step.getBody().hasOneBlock()) {
      module.emitError("bloom-partition-pp: no func.func @step with one block");
      return signalPassFailure();
    }
    mlir::Builder b(&getContext());
    if (pp > 1) {
      StageCut cut(step, pp, stage);
      if (mlir::failed(cut.Run())) return signalPassFailure();
      module->setAttr(kPpLayersAttr, b.getDenseI64ArrayAttr({cut.begin(), cut.end()}));
    }
    module->setAttr(kPpStageAttr, b.getI64IntegerAttr(stage));
    module->setAttr(kPpSizeAttr, b.getI64IntegerAttr(pp));
  }
};

}  // namespace
}  // namespace bloom
