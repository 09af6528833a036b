// --bloom-partition-tp (see Passes.td): rewrites the fused bloom graph into
// rank `rank`'s graph of a `tp`-way Megatron partition.
//
// The rewrite is a forward layout propagation over @step. Every value is
// either replicated (each rank holds all of it) or column-sharded (rank r
// holds columns [r·C/N, (r+1)·C/N) of its last dimension). Ops consume and
// produce layouts by these rules:
//
//   alibi_attention(x: replicated)          → sharded: QKV weight and bias
//       sliced by rows (whole heads, HF's [heads, 3, head_dim] row blocks),
//       num_heads/N heads with the slopes of global heads [r·H/N, (r+1)·H/N)
//   linear epilogue gelu (x: replicated)    → sharded: column-parallel,
//       weight and bias sliced by rows
//   linear (x: sharded)                     → all_reduce → replicated:
//       row-parallel, weight sliced by columns, bias on rank 0 only
//   gelu, cast (x: sharded)                 → sharded (elementwise)
//   embedding (vocab-parallel)              → all_reduce → replicated:
//       table sliced by rows, vocab_begin/vocab_size set
//   lm_head (vocab-parallel)                → all_gather → replicated:
//       weight (the tied table) sliced by rows
//   anything else                           needs replicated operands
//
// A row-parallel op's partial result is renamed "<name>.partial" and the
// all-reduce takes the original name, so every replicated tensor keeps the
// name (and the value) it has at tp=1; the LM head's local logits are
// "logits.shard". The invariant that makes the result equal to the
// unpartitioned graph: a sharded value only ever meets a weight sliced by
// the same column range, and every sum over ranks happens exactly once.
#include <map>
#include <string>
#include <tuple>

#include "compiler/KernelContract.h"
#include "compiler/Passes.h"
#include "dialects/Bloom/BloomOps.h"
#include "dialects/Bloom/TensorNames.h"
#include "llvm/ADT/TypeSwitch.h"
#include "mlir/IR/Builders.h"

namespace bloom {

#define GEN_PASS_DEF_BLOOMPARTITIONTP
#include "compiler/Passes.h.inc"

namespace {

using mlir::LogicalResult;
using mlir::Value;

enum class Layout { kReplicated, kSharded };

mlir::RankedTensorType TensorType(Value value) {
  return mlir::cast<mlir::RankedTensorType>(value.getType());
}

// `type` with dimension `dim` set to `size`.
mlir::RankedTensorType WithDim(mlir::RankedTensorType type, int64_t dim,
                               int64_t size) {
  llvm::SmallVector<int64_t> shape(type.getShape());
  shape[dim] = size;
  return type.clone(shape);
}

// `loc` with its first tensor name suffixed (the other names, a fused op's
// internal buffers, stay).
mlir::Location SuffixedLoc(mlir::Location loc, llvm::StringRef suffix) {
  mlir::MLIRContext* context = loc.getContext();
  llvm::SmallVector<std::string> names = graph::TensorNames(loc);
  if (names.empty()) names.push_back("t");
  llvm::SmallVector<mlir::Location> parts;
  for (size_t i = 0; i < names.size(); ++i) {
    std::string name = i == 0 ? names[i] + suffix.str() : names[i];
    parts.push_back(mlir::NameLoc::get(mlir::StringAttr::get(context, name)));
  }
  return parts.size() == 1 ? parts.front() : graph::FusedNameLoc(context, parts);
}

class Partitioner {
 public:
  Partitioner(mlir::func::FuncOp step, int64_t ranks, int64_t rank,
              bool replicate_vocab)
      : b_(step.getContext()), ranks_(ranks), rank_(rank),
        replicate_vocab_(replicate_vocab) {}

  LogicalResult Run(mlir::func::FuncOp step) {
    llvm::SmallVector<mlir::Operation*> ops;
    for (mlir::Operation& op : step.getBody().front()) ops.push_back(&op);
    for (mlir::Operation* op : ops) {
      if (mlir::failed(Visit(op))) return mlir::failure();
    }
    // The unsliced originals of sliced weights are now unused.
    for (mlir::Operation* op : ops) {
      if (mlir::isa<graph::WeightOp>(op) && op->use_empty()) op->erase();
    }
    return mlir::success();
  }

 private:
  LogicalResult Visit(mlir::Operation* op) {
    return llvm::TypeSwitch<mlir::Operation*, LogicalResult>(op)
        .Case([&](graph::WeightOp) { return mlir::success(); })
        .Case([&](graph::DequantizeOp dequantize) {
          return dequantize->emitError(
              "bloom-partition-tp: the weights are already quantized; run "
              "--bloom-quantize-weights after --bloom-partition-tp (it quantizes "
              "each rank's slice and checks that no slice splits a group)");
        })
        .Case([&](graph::AlibiAttentionOp attention) { return Attention(attention); })
        .Case([&](graph::LinearOp linear) { return Linear(linear); })
        .Case<graph::GeluOp, graph::CastOp>([&](mlir::Operation* elementwise) {
          // Elementwise: the result has its operand's columns.
          Value x = elementwise->getOperand(0);
          if (LayoutOf(x) == Layout::kSharded) {
            Value result = elementwise->getResult(0);
            result.setType(TensorType(result).clone(TensorType(x).getShape()));
            layouts_[result] = Layout::kSharded;
          }
          return mlir::success();
        })
        .Case([&](graph::EmbeddingOp embedding) { return Embedding(embedding); })
        .Case([&](graph::LmHeadOp head) { return LmHead(head); })
        .Case<graph::SplitHeadsOp, graph::KvCacheAppendOp, graph::AttentionScoresOp,
              graph::AlibiBiasOp, graph::CausalMaskOp, graph::SoftmaxOp, graph::AttentionContextOp,
              graph::MergeHeadsOp>(
            [&](mlir::Operation* unfused) {
              return unfused->emitError()
                     << unfused->getName()
                     << " is unfused attention; run --bloom-fuse before "
                        "--bloom-partition-tp (it partitions whole heads of "
                        "bloom.alibi_attention)";
            })
        .Case<graph::AllReduceOp, graph::AllGatherOp>(
            [&](mlir::Operation* c) { return c->emitError("the graph is already partitioned"); })
        .Default([&](mlir::Operation* other) { return NeedReplicated(other); });
  }

  Layout LayoutOf(Value value) const {
    auto it = layouts_.find(value);
    return it == layouts_.end() ? Layout::kReplicated : it->second;
  }

  LogicalResult NeedReplicated(mlir::Operation* op) {
    for (Value operand : op->getOperands()) {
      if (LayoutOf(operand) == Layout::kSharded) {
        return op->emitError()
               << op->getName()
               << " reads a column-sharded tensor; --bloom-partition-tp "
                  "partitions only Megatron's patterns (attention and "
                  "h->4h+gelu column-parallel, followed by a row-parallel "
                  "linear)";
      }
    }
    return mlir::success();
  }

  // This rank's part [begin, end) of `extent` split `ranks_` ways.
  std::pair<int64_t, int64_t> Part(int64_t extent) const {
    int64_t part = extent / ranks_;
    return {rank_ * part, (rank_ + 1) * part};
  }

  // The slice [begin, end) of dimension `dim` of the weight `value`, as a
  // bloom.weight recording the slice (one op per distinct slice, so a tied
  // table sliced alike for the embedding and the LM head stays one tensor).
  mlir::FailureOr<Value> Slice(mlir::Operation* user, Value value, int64_t dim,
                               std::pair<int64_t, int64_t> range) {
    auto weight = value.getDefiningOp<graph::WeightOp>();
    if (!weight || weight.hasSlice()) {
      return user->emitError()
             << "--bloom-partition-tp slices weights, but this operand is "
                "not an unsliced bloom.weight";
    }
    auto key = std::make_tuple(weight.getOperation(), dim, range.first);
    if (auto it = slices_.find(key); it != slices_.end()) return it->second;
    mlir::OpBuilder::InsertionGuard guard(b_);
    b_.setInsertionPoint(weight);
    auto sliced = b_.create<graph::WeightOp>(
        weight.getLoc(), WithDim(weight.getType(), dim, range.second - range.first),
        weight.getNameAttr(), weight.getFileAttr(), weight.getTensorAttr(),
        weight.getStoredDtypeAttr(), b_.getI64IntegerAttr(dim),
        b_.getI64IntegerAttr(range.first), b_.getI64IntegerAttr(range.second));
    slices_[key] = sliced.getResult();
    return Value(sliced.getResult());
  }

  // Replaces every use of `partial` (the result of `op`) with the sum over
  // ranks: a bloom.all_reduce named as `op` was, `op` renamed ".partial".
  void AllReduceAfter(mlir::Operation* op, Value partial) {
    mlir::OpBuilder::InsertionGuard guard(b_);
    b_.setInsertionPointAfter(op);
    mlir::Location name = op->getLoc();
    op->setLoc(SuffixedLoc(name, ".partial"));
    auto sum = b_.create<graph::AllReduceOp>(
        mlir::NameLoc::get(b_.getStringAttr(graph::TensorNames(name).empty()
                                                ? std::string("t")
                                                : graph::TensorNames(name).front())),
        partial.getType(), partial, /*precision=*/nullptr);
    partial.replaceAllUsesExcept(sum.getResult(), sum.getOperation());
  }

  LogicalResult Attention(graph::AlibiAttentionOp attention) {
    if (mlir::failed(NeedReplicated(attention))) return mlir::failure();
    int64_t heads = static_cast<int64_t>(attention.getNumHeads());
    int64_t head_dim = static_cast<int64_t>(attention.getHeadDim());
    if (heads % ranks_ != 0) {
      return attention.emitError()
             << "bloom-partition-tp: " << heads << " attention heads are not "
             << "divisible by tp=" << ranks_
             << " (each rank computes whole heads)";
    }
    // HF's fused QKV rows are laid out [heads, 3, head_dim]: the rows of
    // heads [h0, h1) are the contiguous block [3·h0·D, 3·h1·D).
    auto head_range = Part(heads);
    std::pair<int64_t, int64_t> rows = {3 * head_range.first * head_dim,
                                        3 * head_range.second * head_dim};
    mlir::FailureOr<Value> weight =
        Slice(attention, attention.getQkvWeight(), 0, rows);
    if (mlir::failed(weight)) return mlir::failure();
    attention.getQkvWeightMutable().assign(*weight);
    if (Value bias = attention.getQkvBias()) {
      mlir::FailureOr<Value> sliced = Slice(attention, bias, 0, rows);
      if (mlir::failed(sliced)) return mlir::failure();
      attention.getQkvBiasMutable().assign(*sliced);
    }
    // ALiBi slopes belong to global heads.
    llvm::ArrayRef<float> slopes = attention.getAlibiSlopes();
    attention.setAlibiSlopesAttr(b_.getDenseF32ArrayAttr(
        slopes.slice(head_range.first, heads / ranks_)));
    attention.setNumHeadsAttr(b_.getI64IntegerAttr(heads / ranks_));
    Value result = attention.getResult();
    result.setType(WithDim(TensorType(result), 1, (heads / ranks_) * head_dim));
    layouts_[result] = Layout::kSharded;
    return mlir::success();
  }

  LogicalResult Linear(graph::LinearOp linear) {
    auto weight_type = TensorType(linear.getWeight());
    int64_t out = weight_type.getDimSize(0), in = weight_type.getDimSize(1);
    if (LayoutOf(linear.getX()) == Layout::kSharded) {
      // Row-parallel: this rank's input columns meet the same columns of W.
      if (linear.getEpilogue()) {
        return linear.emitError(
            "bloom-partition-tp: a linear with an epilogue cannot be "
            "row-parallel (the epilogue would apply to a partial sum)");
      }
      if (in % ranks_ != 0 ||
          TensorType(linear.getX()).getDimSize(1) != in / ranks_) {
        return linear.emitError()
               << "bloom-partition-tp: a sharded input of "
               << TensorType(linear.getX()).getDimSize(1)
               << " columns does not match this rank's part of " << in;
      }
      mlir::FailureOr<Value> sliced =
          Slice(linear, linear.getWeight(), 1, Part(in));
      if (mlir::failed(sliced)) return mlir::failure();
      linear.getWeightMutable().assign(*sliced);
      // The bias is added once, by rank 0, before the sum over ranks.
      if (linear.getBias() && rank_ != 0) linear.getBiasMutable().clear();
      AllReduceAfter(linear, linear.getResult());
      return mlir::success();
    }
    if (!linear.getEpilogue()) return mlir::success();  // stays replicated
    // Column-parallel (h->4h with its gelu): this rank's output rows.
    if (out % ranks_ != 0) {
      return linear.emitError() << "bloom-partition-tp: " << out
                                << " output features are not divisible by tp="
                                << ranks_;
    }
    mlir::FailureOr<Value> sliced = Slice(linear, linear.getWeight(), 0, Part(out));
    if (mlir::failed(sliced)) return mlir::failure();
    linear.getWeightMutable().assign(*sliced);
    if (Value bias = linear.getBias()) {
      mlir::FailureOr<Value> bias_slice = Slice(linear, bias, 0, Part(out));
      if (mlir::failed(bias_slice)) return mlir::failure();
      linear.getBiasMutable().assign(*bias_slice);
    }
    Value result = linear.getResult();
    result.setType(WithDim(TensorType(result), 1, out / ranks_));
    layouts_[result] = Layout::kSharded;
    return mlir::success();
  }

  // Whether the vocabulary is split across ranks; an indivisible vocabulary
  // is an error unless replicate-vocab keeps the table whole on every rank.
  mlir::FailureOr<bool> VocabParallel(mlir::Operation* op, int64_t vocab) {
    if (vocab % ranks_ == 0) return true;
    if (replicate_vocab_) return false;
    return op->emitError()
           << "bloom-partition-tp: vocabulary of " << vocab
           << " is not divisible by tp=" << ranks_
           << " (bloom-compile --tp-replicate-vocab, the pass option "
              "replicate-vocab, keeps the embedding and LM head whole on every "
              "rank)";
  }

  LogicalResult Embedding(graph::EmbeddingOp embedding) {
    if (mlir::failed(NeedReplicated(embedding))) return mlir::failure();
    int64_t vocab = TensorType(embedding.getTable()).getDimSize(0);
    mlir::FailureOr<bool> parallel = VocabParallel(embedding, vocab);
    if (mlir::failed(parallel)) return mlir::failure();
    if (!*parallel) return mlir::success();
    auto rows = Part(vocab);
    mlir::FailureOr<Value> table = Slice(embedding, embedding.getTable(), 0, rows);
    if (mlir::failed(table)) return mlir::failure();
    embedding.getTableMutable().assign(*table);
    embedding.setVocabBeginAttr(b_.getI64IntegerAttr(rows.first));
    embedding.setVocabSizeAttr(b_.getI64IntegerAttr(vocab));
    // Each id's row is non-zero on exactly one rank: the sum is the lookup.
    AllReduceAfter(embedding, embedding.getResult());
    return mlir::success();
  }

  LogicalResult LmHead(graph::LmHeadOp head) {
    if (mlir::failed(NeedReplicated(head))) return mlir::failure();
    int64_t vocab = TensorType(head.getWeight()).getDimSize(0);
    mlir::FailureOr<bool> parallel = VocabParallel(head, vocab);
    if (mlir::failed(parallel)) return mlir::failure();
    if (!*parallel) return mlir::success();
    mlir::FailureOr<Value> weight = Slice(head, head.getWeight(), 0, Part(vocab));
    if (mlir::failed(weight)) return mlir::failure();
    head.getWeightMutable().assign(*weight);
    Value local = head.getResult();
    mlir::RankedTensorType full = TensorType(local);
    local.setType(WithDim(full, 1, vocab / ranks_));
    // The full logits on every rank: ranks' columns side by side.
    mlir::OpBuilder::InsertionGuard guard(b_);
    b_.setInsertionPointAfter(head);
    mlir::Location name = head.getLoc();
    head->setLoc(SuffixedLoc(name, ".shard"));
    auto gather = b_.create<graph::AllGatherOp>(
        mlir::NameLoc::get(b_.getStringAttr(graph::TensorNames(name).empty()
                                                ? std::string("logits")
                                                : graph::TensorNames(name).front())),
        full, local, b_.getI64IntegerAttr(ranks_), /*precision=*/nullptr);
    local.replaceAllUsesExcept(gather.getResult(), gather.getOperation());
    return mlir::success();
  }

  mlir::OpBuilder b_;
  const int64_t ranks_;
  const int64_t rank_;
  const bool replicate_vocab_;
  llvm::DenseMap<Value, Layout> layouts_;
  std::map<std::tuple<mlir::Operation*, int64_t, int64_t>, Value> slices_;
};

class BloomPartitionTpPass
    : public impl::BloomPartitionTpBase<BloomPartitionTpPass> {
 public:
  using BloomPartitionTpBase::BloomPartitionTpBase;

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    if (tp < 1 || rank < 0 || rank >= tp) {
      module.emitError() << "bloom-partition-tp: rank=" << rank
                         << " must be in [0, tp=" << tp << ")";
      return signalPassFailure();
    }
    if (module->hasAttr(kTpSizeAttr)) {
      module.emitError("bloom-partition-tp: the module is already partitioned");
      return signalPassFailure();
    }
    auto step = module.lookupSymbol<mlir::func::FuncOp>("step");
    if (!step || !step.getBody().hasOneBlock()) {
      module.emitError("bloom-partition-tp: no func.func @step with one block");
      return signalPassFailure();
    }
    if (tp > 1) {
      Partitioner partitioner(step, tp, rank, replicateVocab);
      if (mlir::failed(partitioner.Run(step))) return signalPassFailure();
      // The returned logits keep their type; the signature follows anyway.
      mlir::Operation* terminator = step.getBody().back().getTerminator();
      step.setFunctionType(mlir::FunctionType::get(
          &getContext(), step.getArgumentTypes(), terminator->getOperandTypes()));
    }
    mlir::Builder b(&getContext());
    module->setAttr(kTpRankAttr, b.getI64IntegerAttr(rank));
    module->setAttr(kTpSizeAttr, b.getI64IntegerAttr(tp));
  }
};

}  // namespace
}  // namespace bloom
