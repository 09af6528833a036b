// --bloom-lower-to-plan (see Passes.td): bloom graph -> plan.program with
// statically assigned arena buffers.
//
// The lowering is a single walk over @step's straight-line body rather than
// a dialect conversion: every op maps to exactly one declaration plus at most
// one kernel, values change from tensors to memrefs, and the result lives in
// a new region, so a value map is the whole of the bookkeeping.
#include <string>

#include "compiler/Passes.h"
#include "dialects/Bloom/BloomOps.h"
#include "dialects/Plan/PlanOps.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MathExtras.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace bloom {

#define GEN_PASS_DEF_BLOOMLOWERTOPLAN
#include "compiler/Passes.h.inc"

namespace {

using mlir::LogicalResult;
using mlir::Value;
using plan_ir::RowDim;
using plan_ir::TensorRole;

// Bump allocation in the activation arena: no reuse, 64-byte aligned
// offsets; a dynamic leading dimension gets `capacity_rows` rows.
class ArenaAllocator {
 public:
  explicit ArenaAllocator(int64_t capacity_rows)
      : capacity_rows_(capacity_rows) {}

  int64_t Allocate(mlir::MemRefType type) {
    int64_t offset = end_;
    end_ = static_cast<int64_t>(llvm::alignTo(
        offset + plan_ir::ArenaBytes(type, capacity_rows_),
        plan_ir::kArenaAlignment));
    return offset;
  }
  int64_t size() const { return end_; }

 private:
  int64_t capacity_rows_;
  int64_t end_ = 0;
};

mlir::MemRefType BufferType(Value tensor) {
  auto type = mlir::cast<mlir::RankedTensorType>(tensor.getType());
  return mlir::MemRefType::get(type.getShape(), type.getElementType());
}

// Maps the values of one @step body to plan tensors, appending declarations
// and kernel calls to the program's body in the order of the graph.
class StepLowering {
 public:
  StepLowering(plan_ir::ProgramOp program, ArenaAllocator& arena)
      : builder_(program.getBody()), arena_(arena) {}

  void LowerArgument(Value arg, llvm::StringRef name, TensorRole role) {
    mlir::MemRefType type = BufferType(arg);
    int64_t offset = arena_.Allocate(type);
    auto input = builder_.create<plan_ir::InputOp>(
        arg.getLoc(), type, builder_.getStringAttr(name),
        plan_ir::TensorRoleAttr::get(builder_.getContext(), role),
        builder_.getI64IntegerAttr(offset));
    Map(arg, input.getResult(), input.getRows());
  }

  LogicalResult Lower(mlir::Operation* op) {
    return llvm::TypeSwitch<mlir::Operation*, LogicalResult>(op)
        .Case([&](graph::WeightOp weight) {
          auto lowered = builder_.create<plan_ir::WeightOp>(
              weight.getLoc(), BufferType(weight), weight.getNameAttr(),
              weight.getFileAttr(), weight.getTensorAttr(),
              weight.getStoredDtypeAttr());
          Map(weight, lowered.getResult(), RowDim::Static);
          return mlir::success();
        })
        .Case([&](graph::EmbeddingOp embedding) {
          Value out = Buffer(embedding, RowDim::Tokens);
          builder_.create<plan_ir::EmbeddingGatherOp>(
              embedding.getLoc(), Ins({embedding.getIds(), embedding.getTable()}),
              out);
          return mlir::success();
        })
        .Case([&](graph::LayerNormOp norm) {
          Value out = Buffer(norm, rows_.lookup(norm.getX()));
          builder_.create<plan_ir::LayerNormOp>(
              norm.getLoc(), Ins({norm.getX(), norm.getGamma(), norm.getBeta()}),
              out, norm.getEpsilonAttr());
          return mlir::success();
        })
        .Case([&](graph::LinearOp linear) {
          llvm::SmallVector<Value> ins = {linear.getX(), linear.getWeight()};
          if (linear.getBias()) ins.push_back(linear.getBias());
          Value out = Buffer(linear, rows_.lookup(linear.getX()));
          builder_.create<plan_ir::LinearOp>(linear.getLoc(), Ins(ins), out);
          return mlir::success();
        })
        .Case([&](graph::GeluOp gelu) {
          Value out = Buffer(gelu, rows_.lookup(gelu.getX()));
          builder_.create<plan_ir::GeluOp>(gelu.getLoc(), Ins({gelu.getX()}),
                                           out);
          return mlir::success();
        })
        .Case([&](graph::AddOp add) {
          Value out = Buffer(add, rows_.lookup(add.getLhs()));
          builder_.create<plan_ir::AddOp>(
              add.getLoc(), Ins({add.getLhs(), add.getRhs()}), out);
          return mlir::success();
        })
        .Case([&](graph::AlibiAttentionOp attention) {
          Value out = Buffer(attention, rows_.lookup(attention.getQkv()));
          builder_.create<plan_ir::AlibiAttentionOp>(
              attention.getLoc(),
              Ins({attention.getQkv(), attention.getPositions(),
                   attention.getSequenceSlots()}),
              out, attention.getLayerAttr(), attention.getNumHeadsAttr(),
              attention.getHeadDimAttr(), attention.getAlibiSlopesAttr());
          return mlir::success();
        })
        .Case([&](graph::GatherRowsOp gather) {
          Value out = Buffer(gather, RowDim::LogitRows);
          builder_.create<plan_ir::GatherRowsOp>(
              gather.getLoc(), Ins({gather.getX(), gather.getRows()}), out);
          return mlir::success();
        })
        .Case([&](graph::LmHeadOp head) {
          // The plan's linear kernel without a bias is exactly the LM head.
          Value out = Buffer(head, rows_.lookup(head.getX()));
          builder_.create<plan_ir::LinearOp>(
              head.getLoc(), Ins({head.getX(), head.getWeight()}), out);
          return mlir::success();
        })
        .Case([&](mlir::func::ReturnOp ret) { return MarkLogits(ret); })
        .Default([&](mlir::Operation* other) -> LogicalResult {
          return other->emitOpError("has no lowering to the plan dialect");
        });
  }

 private:
  void Map(Value from, Value to, RowDim rows) {
    lowered_[from] = to;
    rows_[from] = rows;
  }

  llvm::SmallVector<Value> Ins(llvm::ArrayRef<Value> graph_values) {
    llvm::SmallVector<Value> ins;
    for (Value value : graph_values) ins.push_back(lowered_.lookup(value));
    return ins;
  }

  // Declares the arena buffer of `op`'s result, named after its NameLoc.
  Value Buffer(mlir::Operation* op, RowDim rows) {
    std::string name;
    if (auto loc = mlir::dyn_cast<mlir::NameLoc>(op->getLoc())) {
      name = loc.getName().str();
    } else {
      name = "t" + std::to_string(unnamed_++);
    }
    Value result = op->getResult(0);
    mlir::MemRefType type = BufferType(result);
    int64_t offset = arena_.Allocate(type);
    auto buffer = builder_.create<plan_ir::BufferOp>(
        op->getLoc(), type, builder_.getStringAttr(name),
        plan_ir::RowDimAttr::get(builder_.getContext(), rows),
        builder_.getI64IntegerAttr(offset), plan_ir::TensorRoleAttr());
    Map(result, buffer.getResult(), rows);
    return buffer.getResult();
  }

  LogicalResult MarkLogits(mlir::func::ReturnOp ret) {
    if (ret.getNumOperands() != 1) {
      return ret.emitOpError("@step must return exactly the logits");
    }
    auto buffer = lowered_.lookup(ret.getOperand(0))
                      .getDefiningOp<plan_ir::BufferOp>();
    if (!buffer || buffer.getRows() != RowDim::LogitRows) {
      return ret.emitOpError(
          "must return a value with one row per logit row (gather_rows "
          "before lm_head)");
    }
    buffer.setRoleAttr(
        plan_ir::TensorRoleAttr::get(builder_.getContext(), TensorRole::Logits));
    return mlir::success();
  }

  mlir::OpBuilder builder_;
  ArenaAllocator& arena_;
  llvm::DenseMap<Value, Value> lowered_;
  llvm::DenseMap<Value, RowDim> rows_;
  int unnamed_ = 0;
};

// The KV cache's per-layer shape, read off the attention ops, which must
// agree on heads and head_dim.
struct KvShape {
  int64_t num_layers = 0;
  int64_t num_heads = 1;
  int64_t head_dim = 1;
};

mlir::FailureOr<KvShape> CollectKvShape(mlir::func::FuncOp step) {
  KvShape shape;
  bool first = true;
  auto walk = step.walk([&](graph::AlibiAttentionOp op) {
    auto heads = static_cast<int64_t>(op.getNumHeads());
    auto head_dim = static_cast<int64_t>(op.getHeadDim());
    if (!first && (heads != shape.num_heads || head_dim != shape.head_dim)) {
      op.emitOpError() << "has " << heads << " heads of " << head_dim
                       << " but an earlier layer has " << shape.num_heads
                       << " of " << shape.head_dim
                       << "; the KV cache needs one shape";
      return mlir::WalkResult::interrupt();
    }
    first = false;
    shape.num_heads = heads;
    shape.head_dim = head_dim;
    shape.num_layers = std::max<int64_t>(
        shape.num_layers, static_cast<int64_t>(op.getLayer()) + 1);
    return mlir::WalkResult::advance();
  });
  if (walk.wasInterrupted()) return mlir::failure();
  return shape;
}

class BloomLowerToPlanPass
    : public impl::BloomLowerToPlanBase<BloomLowerToPlanPass> {
 public:
  using BloomLowerToPlanBase::BloomLowerToPlanBase;

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    if (mlir::failed(Run(module))) signalPassFailure();
  }

 private:
  LogicalResult Run(mlir::ModuleOp module) {
    for (auto [name, value] :
         {std::pair<llvm::StringRef, int64_t>{"max-batch-tokens", maxBatchTokens},
          {"max-seq-len", maxSeqLen},
          {"max-sequences", maxSequences},
          {"kv-block-size", kvBlockSize}}) {
      if (value <= 0) {
        return module.emitError() << "bloom-lower-to-plan: " << name
                                  << " must be positive, got " << value;
      }
    }
    auto step = module.lookupSymbol<mlir::func::FuncOp>("step");
    if (!step) {
      return module.emitError("bloom-lower-to-plan: no func.func @step");
    }
    if (step.getNumArguments() != 4 || !step.getBody().hasOneBlock()) {
      return step.emitOpError(
          "must have one block and the arguments (token_ids, positions, "
          "sequence_slots, logit_rows)");
    }
    mlir::FailureOr<KvShape> kv = CollectKvShape(step);
    if (mlir::failed(kv)) return mlir::failure();

    mlir::OpBuilder builder(module.getBodyRegion());
    builder.setInsertionPointToEnd(module.getBody());
    auto string_attr = [&](llvm::StringRef key, llvm::StringRef fallback) {
      auto attr = module->getAttrOfType<mlir::StringAttr>(key);
      return attr ? attr : builder.getStringAttr(fallback);
    };
    auto eos = module->getAttrOfType<mlir::IntegerAttr>("bloom.eos_token_id");
    int64_t blocks_per_sequence = llvm::divideCeil(maxSeqLen, kvBlockSize);
    auto program = builder.create<plan_ir::ProgramOp>(
        step.getLoc(), string_attr("bloom.model_name", "bloom"),
        string_attr("bloom.checkpoint_dir", ""),
        builder.getI64IntegerAttr(eos ? eos.getInt() : -1),
        builder.getI64IntegerAttr(maxBatchTokens),
        builder.getI64IntegerAttr(maxSeqLen),
        builder.getI64IntegerAttr(maxSequences),
        builder.getI64IntegerAttr(kv->num_layers),
        builder.getI64IntegerAttr(kv->num_heads),
        builder.getI64IntegerAttr(kv->head_dim),
        builder.getI64IntegerAttr(kvBlockSize),
        builder.getI64IntegerAttr(maxSequences * blocks_per_sequence),
        mlir::TypeAttr::get(builder.getF32Type()), builder.getI64IntegerAttr(0));
    program.getBody().emplaceBlock();

    ArenaAllocator arena(maxBatchTokens);
    StepLowering lowering(program, arena);
    static constexpr std::pair<llvm::StringLiteral, TensorRole> kInputs[] = {
        {"token_ids", TensorRole::TokenIds},
        {"positions", TensorRole::Positions},
        {"sequence_slots", TensorRole::SequenceSlots},
        {"logit_rows", TensorRole::LogitRows}};
    for (auto [index, input] : llvm::enumerate(kInputs)) {
      mlir::BlockArgument arg = step.getArgument(index);
      auto type = mlir::dyn_cast<mlir::RankedTensorType>(arg.getType());
      if (!type || type.getRank() != 1 || !type.getElementType().isInteger(32)) {
        return step.emitOpError() << "argument " << index << " ("
                                  << input.first << ") must be tensor<?xi32>";
      }
      lowering.LowerArgument(arg, input.first, input.second);
    }
    for (mlir::Operation& op : step.getBody().front()) {
      if (mlir::failed(lowering.Lower(&op))) return mlir::failure();
    }
    program.setArenaBytesAttr(builder.getI64IntegerAttr(arena.size()));
    step.erase();
    return mlir::success();
  }
};

}  // namespace
}  // namespace bloom
