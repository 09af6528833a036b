// --bloom-lower-to-plan (see Passes.td): bloom graph -> plan.program, with
// the arena offsets, precision and limits that the earlier passes chose.
//
// The lowering is a single walk over @step's straight-line body rather than
// a dialect conversion: every op maps to its buffer declarations plus one or
// two kernels, values change from tensors to memrefs, and the result lives in
// a new region, so a value map is the whole of the bookkeeping.
#include <string>

#include "compiler/KernelContract.h"
#include "compiler/Liveness.h"
#include "compiler/Passes.h"
#include "dialects/Bloom/BloomOps.h"
#include "dialects/Bloom/TensorNames.h"
#include "dialects/Plan/PlanOps.h"
#include "llvm/ADT/TypeSwitch.h"
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

mlir::MemRefType BufferType(mlir::Type tensor) {
  auto type = mlir::cast<mlir::RankedTensorType>(tensor);
  return mlir::MemRefType::get(type.getShape(), type.getElementType());
}

RowDim ToRowDim(RowKind rows) {
  switch (rows) {
    case RowKind::kStatic: return RowDim::Static;
    case RowKind::kTokens: return RowDim::Tokens;
    case RowKind::kLogitRows: return RowDim::LogitRows;
  }
  return RowDim::Static;
}

// The compute and accumulate types of a kernel, from a bloom precision.
struct KernelTypes {
  mlir::TypeAttr compute, accumulate;
};

KernelTypes TypesOf(graph::PrecisionAttr precision) {
  return {mlir::TypeAttr::get(precision.getCompute()),
          mlir::TypeAttr::get(precision.getAccumulate())};
}

// Maps the values of one @step body to plan tensors, appending declarations
// and kernel calls to the program's body in the order of the graph.
class StepLowering {
 public:
  explicit StepLowering(plan_ir::ProgramOp program)
      : program_(program), builder_(program.getBody()) {}

  void LowerArgument(Value arg, llvm::StringRef name, TensorRole role,
                     int64_t offset) {
    mlir::MemRefType type = BufferType(arg.getType());
    auto input = builder_.create<plan_ir::InputOp>(
        arg.getLoc(), type, builder_.getStringAttr(name),
        plan_ir::TensorRoleAttr::get(builder_.getContext(), role),
        builder_.getI64IntegerAttr(offset));
    lowered_[arg] = input.getResult();
  }

  LogicalResult Lower(mlir::Operation* op) {
    if (mlir::isa<graph::BloomDialect>(op->getDialect()) &&
        !mlir::isa<graph::WeightOp, graph::DequantizeOp, graph::PrefetchWeightsOp,
                   graph::AwaitWeightsOp>(op)) {
      auto offsets = op->getAttrOfType<mlir::DenseI64ArrayAttr>(kArenaOffsetsAttr);
      unsigned internal = mlir::isa<graph::AlibiAttentionOp>(op) ? 1 : 0;
      if (!offsets || offsets.size() != op->getNumResults() + internal) {
        return op->emitError() << op->getName()
                               << " has no arena offsets; run "
                                  "--bloom-plan-memory first";
      }
      offsets_ = offsets.asArrayRef();
      types_ = TypesOf(op->getAttrOfType<graph::PrecisionAttr>("precision"));
    }
    mlir::MLIRContext* context = builder_.getContext();
    return llvm::TypeSwitch<mlir::Operation*, LogicalResult>(op)
        .Case([&](graph::WeightOp weight) {
          // A quantized weight's three tensors are declared by their
          // dequantize, which knows how they are made.
          if (llvm::any_of(weight->getUsers(), [](mlir::Operation* user) {
                return mlir::isa<graph::DequantizeOp>(user);
              })) {
            return mlir::success();
          }
          auto lowered = builder_.create<plan_ir::WeightOp>(
              weight.getLoc(), BufferType(weight.getType()), weight.getNameAttr(),
              weight.getFileAttr(), weight.getTensorAttr(),
              weight.getStoredDtypeAttr(), weight.getSliceDimAttr(),
              weight.getSliceBeginAttr(), weight.getSliceEndAttr(),
              /*quantize_format=*/nullptr, /*group_size=*/nullptr, /*part=*/nullptr,
              weight->getAttrOfType<mlir::StringAttr>(kStreamUnitAttr),
              weight->getAttrOfType<mlir::IntegerAttr>(kSlotOffsetAttr));
          lowered_[weight] = lowered.getResult();
          return mlir::success();
        })
        .Case([&](graph::DequantizeOp dequantize) { return LowerDequantize(dequantize); })
        .Case([&](graph::PrefetchWeightsOp prefetch) {
          builder_.create<plan_ir::PrefetchWeightsOp>(prefetch.getLoc(),
                                                      prefetch.getUnitAttr());
          return mlir::success();
        })
        .Case([&](graph::AwaitWeightsOp await) {
          builder_.create<plan_ir::AwaitWeightsOp>(await.getLoc(), await.getUnitAttr());
          return mlir::success();
        })
        .Case([&](graph::EmbeddingOp embedding) {
          Value out = Buffer(embedding, 0);
          builder_.create<plan_ir::EmbeddingGatherOp>(
              embedding.getLoc(), Ins({embedding.getIds(), embedding.getTable()}, 1),
              out, embedding.getVocabBeginAttr(), embedding.getVocabSizeAttr(),
              types_.compute, types_.accumulate);
          return mlir::success();
        })
        .Case([&](graph::LayerNormOp norm) {
          Value out = Buffer(norm, 0);
          builder_.create<plan_ir::LayerNormOp>(
              norm.getLoc(), Ins({norm.getX(), norm.getGamma(), norm.getBeta()}),
              out, norm.getEpsilonAttr(), types_.compute, types_.accumulate);
          return mlir::success();
        })
        .Case([&](graph::AddLayerNormOp fused) {
          Value sum = Buffer(fused, 0);
          Value normed = Buffer(fused, 1);
          builder_.create<plan_ir::AddLayerNormOp>(
              fused.getLoc(),
              Ins({fused.getA(), fused.getB(), fused.getGamma(), fused.getBeta()}),
              sum, normed, fused.getEpsilonAttr(), types_.compute,
              types_.accumulate);
          return mlir::success();
        })
        .Case([&](graph::LinearOp linear) {
          llvm::SmallVector<Value> ins = {linear.getX(), linear.getWeight()};
          if (linear.getBias()) ins.push_back(linear.getBias());
          Value out = Buffer(linear, 0);
          // (The weight, ins[1], may lower to a quantized weight's parts.)
          plan_ir::EpilogueAttr epilogue;
          if (linear.getEpilogue()) {
            epilogue = plan_ir::EpilogueAttr::get(context, plan_ir::Epilogue::Gelu);
          }
          builder_.create<plan_ir::LinearOp>(linear.getLoc(), Ins(ins, 1), out,
                                             epilogue, types_.compute,
                                             types_.accumulate);
          return mlir::success();
        })
        .Case([&](graph::GeluOp gelu) {
          Value out = Buffer(gelu, 0);
          builder_.create<plan_ir::GeluOp>(gelu.getLoc(), Ins({gelu.getX()}), out,
                                           types_.compute, types_.accumulate);
          return mlir::success();
        })
        .Case([&](graph::AddOp add) {
          Value out = Buffer(add, 0);
          builder_.create<plan_ir::AddOp>(add.getLoc(),
                                          Ins({add.getLhs(), add.getRhs()}), out,
                                          types_.compute, types_.accumulate);
          return mlir::success();
        })
        .Case([&](graph::CastOp cast) {
          Value out = Buffer(cast, 0);
          builder_.create<plan_ir::CastOp>(cast.getLoc(), Ins({cast.getX()}), out,
                                           types_.compute, types_.accumulate);
          return mlir::success();
        })
        .Case([&](graph::AlibiAttentionOp attention) {
          return LowerAttention(attention);
        })
        .Case([&](graph::GatherRowsOp gather) {
          Value out = Buffer(gather, 0);
          builder_.create<plan_ir::GatherRowsOp>(
              gather.getLoc(), Ins({gather.getX(), gather.getRows()}), out,
              types_.compute, types_.accumulate);
          return mlir::success();
        })
        .Case([&](graph::LmHeadOp head) {
          // The plan's linear kernel without a bias is exactly the LM head.
          Value out = Buffer(head, 0);
          builder_.create<plan_ir::LinearOp>(
              head.getLoc(), Ins({head.getX(), head.getWeight()}, 1), out,
              plan_ir::EpilogueAttr(), types_.compute, types_.accumulate);
          return mlir::success();
        })
        .Case([&](graph::AllReduceOp sum) {
          Value out = Buffer(sum, 0);
          builder_.create<plan_ir::AllReduceOp>(sum.getLoc(), Ins({sum.getX()}),
                                                out, types_.compute,
                                                types_.accumulate);
          return mlir::success();
        })
        .Case([&](graph::AllGatherOp gather) {
          Value out = Buffer(gather, 0);
          builder_.create<plan_ir::AllGatherOp>(gather.getLoc(),
                                                Ins({gather.getX()}), out,
                                                types_.compute, types_.accumulate);
          return mlir::success();
        })
        .Case([&](mlir::func::ReturnOp ret) { return MarkResult(ret); })
        .Default([&](mlir::Operation* other) -> LogicalResult {
          return other->emitOpError("has no lowering to the plan dialect");
        });
  }

 private:
  // Fusion at graph level, implementation at lowering: the projection is a
  // Linear into the op's internal qkv buffer, then the attention kernel.
  LogicalResult LowerAttention(graph::AlibiAttentionOp attention) {
    llvm::SmallVector<Value> ins = {attention.getX(), attention.getQkvWeight()};
    if (attention.getQkvBias()) ins.push_back(attention.getQkvBias());
    auto x = mlir::cast<mlir::RankedTensorType>(attention.getX().getType());
    int64_t columns = 3 * static_cast<int64_t>(attention.getNumHeads()) *
                      static_cast<int64_t>(attention.getHeadDim());
    auto qkv_type = mlir::RankedTensorType::get(
        {x.getDimSize(0), columns}, attention.getQkvStorageType());
    std::string qkv_name = graph::TensorName(attention, 1, "t" + std::to_string(unnamed_++));
    mlir::Location qkv_loc = mlir::NameLoc::get(builder_.getStringAttr(qkv_name));
    Value qkv = Declare(qkv_loc, qkv_name, qkv_type,
                        ToRowDim(RowKindOf(attention.getX())), offsets_[1]);
    KernelTypes projection = TypesOf(*attention.getQkvPrecision());
    builder_.create<plan_ir::LinearOp>(qkv_loc, Ins(ins, 1), qkv,
                                       plan_ir::EpilogueAttr(), projection.compute,
                                       projection.accumulate);
    Value out = Buffer(attention, 0);
    builder_.create<plan_ir::AlibiAttentionOp>(
        attention.getLoc(),
        mlir::ValueRange{qkv, lowered_.lookup(attention.getPositions()),
                         lowered_.lookup(attention.getSequenceSlots())},
        out, attention.getLayerAttr(), attention.getNumHeadsAttr(),
        attention.getHeadDimAttr(), attention.getAlibiSlopesAttr(),
        types_.compute, types_.accumulate);
    return mlir::success();
  }

  // The lowered operands of `graph_values`; the one at `weight_index`, if
  // any, is a weight, which a quantized weight's parts replace (plan.fbs:
  // values, scales [, zero points] in the weight's place).
  llvm::SmallVector<Value> Ins(llvm::ArrayRef<Value> graph_values, int weight_index = -1) {
    llvm::SmallVector<Value> ins;
    for (auto [i, value] : llvm::enumerate(graph_values)) {
      auto parts = quantized_.find(value);
      if (static_cast<int>(i) == weight_index && parts != quantized_.end()) {
        ins.append(parts->second.begin(), parts->second.end());
      } else {
        ins.push_back(lowered_.lookup(value));
      }
    }
    return ins;
  }

  // A quantized weight: its values, scales and zero points become plan
  // weights of their own. Quantized at load (plan.fbs's QuantizeAtLoad),
  // all three name the values' float source, each with its part; the
  // dequantize itself is no kernel (the reading kernel dequantizes).
  LogicalResult LowerDequantize(graph::DequantizeOp dequantize) {
    auto values = dequantize.getValues().getDefiningOp<graph::WeightOp>();
    auto scales = dequantize.getScales().getDefiningOp<graph::WeightOp>();
    auto zero_points = dequantize.getZeroPoints()
                           ? dequantize.getZeroPoints().getDefiningOp<graph::WeightOp>()
                           : graph::WeightOp();
    if (!values || !scales || (dequantize.getZeroPoints() && !zero_points)) {
      return dequantize.emitError(
          "bloom-lower-to-plan: a dequantize must read bloom.weight values, scales and zero "
          "points");
    }
    // Only a weight operand can take the parts' place (plan.fbs).
    for (mlir::OpOperand& use : dequantize.getResult().getUses()) {
      mlir::Operation* user = use.getOwner();
      const bool weight_operand =
          (mlir::isa<graph::LinearOp, graph::LmHeadOp, graph::EmbeddingOp,
                     graph::AlibiAttentionOp>(user) &&
           use.getOperandNumber() == 1);
      if (!weight_operand) {
        return user->emitError() << "bloom-lower-to-plan: a quantized weight may only be the "
                                    "weight of a linear, alibi_attention, lm_head or embedding, "
                                    "not operand "
                                 << use.getOperandNumber() << " of " << user->getName();
      }
    }
    const bool int4 = static_cast<bool>(zero_points);
    const int64_t cols = values.getType().getDimSize(1);
    const int64_t group = int4 ? static_cast<int64_t>(dequantize.getGroupSize()) : cols;
    mlir::MLIRContext* context = builder_.getContext();
    auto format = plan_ir::WeightFormatAttr::get(
        context, int4 ? plan_ir::WeightFormat::Int4Grouped : plan_ir::WeightFormat::Int8PerChannel);
    llvm::SmallVector<Value, 3> parts;
    auto declare = [&](graph::WeightOp part, plan_ir::QuantizedPart which) {
      auto lowered = builder_.create<plan_ir::WeightOp>(
          part.getLoc(), BufferType(part.getType()), part.getNameAttr(), values.getFileAttr(),
          values.getTensorAttr(), values.getStoredDtypeAttr(), values.getSliceDimAttr(),
          values.getSliceBeginAttr(), values.getSliceEndAttr(), format,
          builder_.getI64IntegerAttr(group), plan_ir::QuantizedPartAttr::get(context, which),
          part->getAttrOfType<mlir::StringAttr>(kStreamUnitAttr),
          part->getAttrOfType<mlir::IntegerAttr>(kSlotOffsetAttr));
      parts.push_back(lowered.getResult());
    };
    declare(values, plan_ir::QuantizedPart::Values);
    declare(scales, plan_ir::QuantizedPart::Scales);
    if (int4) declare(zero_points, plan_ir::QuantizedPart::ZeroPoints);
    quantized_[dequantize.getResult()] = parts;
    return mlir::success();
  }

  Value Declare(mlir::Location loc, llvm::StringRef name, mlir::Type type,
                RowDim rows, int64_t offset) {
    auto buffer = builder_.create<plan_ir::BufferOp>(
        loc, BufferType(type), builder_.getStringAttr(name),
        plan_ir::RowDimAttr::get(builder_.getContext(), rows),
        builder_.getI64IntegerAttr(offset), plan_ir::TensorRoleAttr());
    return buffer.getResult();
  }

  // Declares the arena buffer of `op`'s result `index` at its planned offset,
  // named after the op's location.
  Value Buffer(mlir::Operation* op, unsigned index) {
    Value result = op->getResult(index);
    std::string name = graph::TensorName(op, index, "t" + std::to_string(unnamed_++));
    Value buffer = Declare(mlir::NameLoc::get(builder_.getStringAttr(name)), name,
                           result.getType(),
                           ToRowDim(RowKindOf(result)), offsets_[index]);
    lowered_[result] = buffer;
    return buffer;
  }

  // The step's result: the logits on the last pipeline stage (the only one
  // without pipelining), the residual stream on a stage before it.
  LogicalResult MarkResult(mlir::func::ReturnOp ret) {
    const bool last = program_.ppStage() == program_.ppSize() - 1;
    if (ret.getNumOperands() != 1) {
      return ret.emitOpError(last ? "@step must return exactly the logits"
                                  : "@step of a pipeline stage before the last must return "
                                    "exactly the hidden state");
    }
    auto buffer = lowered_.lookup(ret.getOperand(0))
                      .getDefiningOp<plan_ir::BufferOp>();
    if (last && (!buffer || buffer.getRows() != RowDim::LogitRows)) {
      return ret.emitOpError(
          "must return a value with one row per logit row (gather_rows "
          "before lm_head)");
    }
    if (!last && (!buffer || buffer.getRows() != RowDim::Tokens ||
                  buffer.getType().getRank() != 2)) {
      return ret.emitOpError()
             << "on pipeline stage " << program_.ppStage() << " of " << program_.ppSize()
             << " must return the hidden state, one row per token (an activation "
                "[T, hidden])";
    }
    buffer.setRoleAttr(plan_ir::TensorRoleAttr::get(
        builder_.getContext(), last ? TensorRole::Logits : TensorRole::HiddenOut));
    return mlir::success();
  }

  plan_ir::ProgramOp program_;

  mlir::OpBuilder builder_;
  llvm::DenseMap<Value, Value> lowered_;
  // A dequantize's result -> its weight's lowered values, scales [, zeros].
  llvm::DenseMap<Value, llvm::SmallVector<Value, 3>> quantized_;
  llvm::ArrayRef<int64_t> offsets_;
  KernelTypes types_;
  int unnamed_ = 0;
};

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
    auto step = module.lookupSymbol<mlir::func::FuncOp>("step");
    if (!step) {
      return module.emitError("bloom-lower-to-plan: no func.func @step");
    }
    if (mlir::failed(CheckKernels(step)) ||
        mlir::failed(CheckPrecisionAssigned(step))) {
      return mlir::failure();
    }
    // A pipeline stage's interface (plan.fbs, Plan.pp_stage): the first
    // stage reads the token ids, a later one the hidden state in their
    // place; only the last reads logit rows.
    auto pp_stage = module->getAttrOfType<mlir::IntegerAttr>(kPpStageAttr);
    auto pp_size = module->getAttrOfType<mlir::IntegerAttr>(kPpSizeAttr);
    const int64_t stage = pp_stage ? pp_stage.getInt() : 0;
    const int64_t stages = pp_size ? pp_size.getInt() : 1;
    const bool first = stage == 0, last = stage == stages - 1;
    llvm::SmallVector<std::pair<llvm::StringLiteral, TensorRole>, 4> arguments = {
        first ? std::pair{llvm::StringLiteral("token_ids"), TensorRole::TokenIds}
              : std::pair{llvm::StringLiteral("hidden_in"), TensorRole::HiddenIn},
        {"positions", TensorRole::Positions},
        {"sequence_slots", TensorRole::SequenceSlots}};
    if (last) arguments.push_back({"logit_rows", TensorRole::LogitRows});
    if (step.getNumArguments() != arguments.size() || !step.getBody().hasOneBlock()) {
      std::string names;
      for (auto [index, argument] : llvm::enumerate(arguments)) {
        names += (index ? ", " : "") + argument.first.str();
      }
      return step.emitOpError() << "must have one block and the arguments (" << names << ")"
                                << (stages > 1 ? " on pipeline stage " + std::to_string(stage) +
                                                     " of " + std::to_string(stages)
                                               : "");
    }
    auto memory = module->getAttrOfType<mlir::DictionaryAttr>(kMemoryPlanAttr);
    auto inputs = step->getAttrOfType<mlir::DenseI64ArrayAttr>(kInputOffsetsAttr);
    if (!memory || !inputs || inputs.size() != static_cast<int64_t>(arguments.size())) {
      return module.emitError(
          "bloom-lower-to-plan: no memory plan; run --bloom-plan-memory first");
    }
    auto get = [&](llvm::StringRef key) -> int64_t {
      auto attr = memory.getAs<mlir::IntegerAttr>(key);
      return attr ? attr.getInt() : -1;
    };
    auto kv_dtype = memory.getAs<mlir::TypeAttr>("kv_dtype");
    for (llvm::StringRef key :
         {"max_batch_tokens", "max_logit_rows", "max_seq_len", "max_sequences",
          "kv_num_layers", "kv_num_heads", "kv_head_dim", "kv_block_size",
          "kv_num_blocks", "activations_bytes"}) {
      if (get(key) < 0) {
        return module.emitError() << "bloom-lower-to-plan: the memory plan lacks "
                                  << key << "; run --bloom-plan-memory again";
      }
    }
    if (!kv_dtype) {
      return module.emitError("bloom-lower-to-plan: the memory plan lacks kv_dtype");
    }

    mlir::OpBuilder builder(module.getBodyRegion());
    builder.setInsertionPointToEnd(module.getBody());
    auto string_attr = [&](llvm::StringRef key, llvm::StringRef fallback) {
      auto attr = module->getAttrOfType<mlir::StringAttr>(key);
      return attr ? attr : builder.getStringAttr(fallback);
    };
    auto eos = module->getAttrOfType<mlir::IntegerAttr>("bloom.eos_token_id");
    auto i64 = [&](llvm::StringRef key) { return builder.getI64IntegerAttr(get(key)); };
    auto program = builder.create<plan_ir::ProgramOp>(
        step.getLoc(), string_attr("bloom.model_name", "bloom"),
        string_attr("bloom.checkpoint_dir", ""),
        builder.getI64IntegerAttr(eos ? eos.getInt() : -1),
        i64("max_batch_tokens"), i64("max_logit_rows"), i64("max_seq_len"),
        i64("max_sequences"), i64("kv_num_layers"), i64("kv_num_heads"),
        i64("kv_head_dim"), i64("kv_block_size"), i64("kv_num_blocks"), kv_dtype,
        i64("activations_bytes"),
        module->getAttrOfType<mlir::IntegerAttr>(kTpRankAttr),
        module->getAttrOfType<mlir::IntegerAttr>(kTpSizeAttr),
        /*num_weight_slots=*/nullptr, /*weight_slot_bytes=*/nullptr,
        stages > 1 ? pp_stage : nullptr, stages > 1 ? pp_size : nullptr);
    program.getBody().emplaceBlock();

    StepLowering lowering(program);
    for (auto [index, input] : llvm::enumerate(arguments)) {
      mlir::BlockArgument arg = step.getArgument(index);
      auto type = mlir::dyn_cast<mlir::RankedTensorType>(arg.getType());
      if (input.second == TensorRole::HiddenIn) {
        if (!type || type.getRank() != 2 || !type.isDynamicDim(0) || type.isDynamicDim(1) ||
            !mlir::isa<mlir::FloatType>(type.getElementType())) {
          return step.emitOpError() << "argument 0 (hidden_in) of pipeline stage " << stage
                                    << " must be tensor<?xHIDDENxFLOAT>, got " << arg.getType();
        }
      } else if (!type || type.getRank() != 1 || !type.getElementType().isInteger(32)) {
        return step.emitOpError() << "argument " << index << " ("
                                  << input.first << ") must be tensor<?xi32>";
      }
      lowering.LowerArgument(arg, input.first, input.second, inputs[index]);
    }
    for (mlir::Operation& op : step.getBody().front()) {
      if (mlir::failed(lowering.Lower(&op))) return mlir::failure();
    }
    step.erase();
    return LowerWeightUnits(module, program);
  }

  // --bloom-tier-memory's offloaded units become plan.weight_units at the
  // top of the program (their order is plan.fbs's WeightUnit index) and
  // its slots the program's weight_slots.
  LogicalResult LowerWeightUnits(mlir::ModuleOp module, plan_ir::ProgramOp program) {
    auto tiering = module->getAttrOfType<mlir::DictionaryAttr>(kTieringAttr);
    if (!tiering) return mlir::success();
    auto num_slots = tiering.getAs<mlir::IntegerAttr>("num_slots");
    auto slot_bytes = tiering.getAs<mlir::IntegerAttr>("slot_bytes");
    auto units = tiering.getAs<mlir::ArrayAttr>("units");
    auto file = tiering.getAs<mlir::StringAttr>("units_file");
    if (!num_slots || !slot_bytes || !units || !file) {
      return module.emitError("bloom-lower-to-plan: bloom.tiering is incomplete; run "
                              "--bloom-tier-memory again");
    }
    if (num_slots.getInt() == 0) return mlir::success();
    program.setNumWeightSlotsAttr(num_slots);
    program.setWeightSlotBytesAttr(slot_bytes);
    mlir::OpBuilder builder(program.getBody());
    builder.setInsertionPointToStart(&program.getBody().front());
    for (mlir::Attribute attr : units) {
      auto unit = mlir::dyn_cast<mlir::DictionaryAttr>(attr);
      auto name = unit ? unit.getAs<mlir::StringAttr>("name") : nullptr;
      auto residency = unit ? unit.getAs<mlir::StringAttr>("residency") : nullptr;
      if (!name || !residency || !unit.getAs<mlir::IntegerAttr>("bytes") ||
          !unit.getAs<mlir::IntegerAttr>("slot")) {
        return module.emitError("bloom-lower-to-plan: a bloom.tiering unit lacks its fields");
      }
      if (residency.getValue() == "device") continue;
      bool disk = residency.getValue() == "disk";
      builder.create<plan_ir::WeightUnitOp>(
          mlir::NameLoc::get(name), name,
          plan_ir::ResidencyAttr::get(builder.getContext(),
                                      disk ? plan_ir::Residency::Disk : plan_ir::Residency::Host),
          unit.getAs<mlir::IntegerAttr>("bytes"), unit.getAs<mlir::IntegerAttr>("slot"),
          disk ? file : nullptr, disk ? unit.getAs<mlir::IntegerAttr>("file_offset") : nullptr);
    }
    return mlir::success();
  }
};

}  // namespace
}  // namespace bloom
