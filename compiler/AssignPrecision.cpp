// --bloom-assign-precision (see Passes.td for the policy and its reasons).
//
// One forward walk over @step: producers come before consumers, so when an
// op is visited its operands already have their storage types. Each op gets
// the storage type of each result (its element type), then its precision;
// ops that need an operand in their own type get a cast where it differs.
#include <string>

#include "compiler/KernelContract.h"
#include "compiler/Passes.h"
#include "dialects/Bloom/BloomOps.h"
#include "dialects/Bloom/TensorNames.h"
#include "llvm/ADT/TypeSwitch.h"
#include "mlir/IR/Builders.h"

namespace bloom {

#define GEN_PASS_DEF_BLOOMASSIGNPRECISION
#include "compiler/Passes.h.inc"

namespace {

using mlir::Type;
using mlir::Value;

struct Policy {
  Type storage;                 // S: weights and most activations
  bool residual_in_f32 = false; // fp16: the residual stream stays f32

  Type Residual(Type f32) const { return residual_in_f32 ? f32 : storage; }
};

mlir::FailureOr<Policy> ParsePolicy(mlir::MLIRContext* context,
                                    llvm::StringRef name) {
  mlir::Builder b(context);
  if (name == "fp32") return Policy{b.getF32Type(), false};
  if (name == "bf16") return Policy{b.getBF16Type(), false};
  if (name == "fp16") return Policy{b.getF16Type(), true};
  return mlir::failure();
}

Type ElementOf(Value value) {
  return mlir::cast<mlir::ShapedType>(value.getType()).getElementType();
}

void SetElement(Value value, Type element) {
  if (auto shaped = mlir::dyn_cast<mlir::RankedTensorType>(value.getType())) {
    value.setType(shaped.clone(element));
  }
}

// A residual-stream tensor: a sum of the stream, or a tensor added into it
// (directly, or through the all-reduce of a row-parallel partial sum, which
// keeps its operand's type).
bool IsResidual(Value value) {
  if (mlir::isa_and_nonnull<graph::AddOp>(value.getDefiningOp())) return true;
  if (auto fused = value.getDefiningOp<graph::AddLayerNormOp>()) {
    if (value == fused.getSum()) return true;
  }
  for (mlir::OpOperand& use : value.getUses()) {
    mlir::Operation* user = use.getOwner();
    if (mlir::isa<graph::AddOp>(user)) return true;
    if (auto sum = mlir::dyn_cast<graph::AllReduceOp>(user)) {
      if (IsResidual(sum.getResult())) return true;
    }
    if (mlir::isa<graph::AddLayerNormOp>(user) && use.getOperandNumber() < 2) {
      return true;
    }
  }
  return false;
}

class Assigner {
 public:
  Assigner(mlir::MLIRContext* context, Policy policy)
      : b_(context), policy_(policy), f32_(b_.getF32Type()) {}

  // The hidden state at a pipeline cut (the pass's rule, below) as a later
  // stage reads it: argument 0 of @step, set before the walk so that its
  // readers cast from it where they store otherwise.
  void DeclareHiddenIn(mlir::func::FuncOp step) {
    SetElement(step.getArgument(0), policy_.Residual(f32_));
  }

  // ... and as a stage before the last returns it: a cast where the op that
  // wrote it stored it otherwise.
  void ReturnHiddenOut(mlir::func::FuncOp step) {
    mlir::Operation* ret = step.getBody().back().getTerminator();
    if (ret->getNumOperands() == 1) CastOperand(ret, 0, policy_.Residual(f32_));
  }

  void Visit(mlir::Operation* op) {
    llvm::TypeSwitch<mlir::Operation*>(op)
        .Case([&](graph::WeightOp weight) {
          // A quantized weight's values, scales and zero points keep the
          // storage --bloom-quantize-weights chose; the dequantized weight
          // (the default case) is stored as S.
          bool quantized = llvm::any_of(weight->getUsers(), [](mlir::Operation* user) {
            return mlir::isa<graph::DequantizeOp>(user);
          });
          if (!quantized) SetElement(weight.getResult(), policy_.storage);
        })
        .Case([&](graph::LayerNormOp norm) {
          Store(norm.getResult(), Storage(norm.getResult()));
          SetPrecision(op, f32_);
        })
        .Case([&](graph::AddLayerNormOp fused) {
          Store(fused.getSum(), Storage(fused.getSum()));
          Store(fused.getNormed(), Storage(fused.getNormed()));
          SetPrecision(op, f32_);
          Type sum = ElementOf(fused.getSum());
          CastOperand(op, 0, sum);
          CastOperand(op, 1, sum);
        })
        .Case([&](graph::AddOp add) {
          Type storage = Storage(add.getResult());
          Store(add.getResult(), storage);
          SetPrecision(op, storage);
          CastOperand(op, 0, storage);
          CastOperand(op, 1, storage);
        })
        .Case([&](graph::GeluOp gelu) {
          Type storage = Storage(gelu.getResult());
          Store(gelu.getResult(), storage);
          SetPrecision(op, storage);
          CastOperand(op, 0, storage);
        })
        .Case([&](graph::AlibiAttentionOp attention) {
          Store(attention.getResult(), Storage(attention.getResult()));
          // The qkv buffer is what the KV cache stores, in S.
          attention.setQkvStorageAttr(mlir::TypeAttr::get(policy_.storage));
          attention.setQkvPrecisionAttr(
              graph::PrecisionAttr::get(b_.getContext(), policy_.storage, f32_));
          SetPrecision(op, f32_);  // scores and softmax in f32
        })
        .Case([&](graph::GatherRowsOp gather) {
          Type storage = ElementOf(gather.getX());
          Store(gather.getResult(), storage);
          SetPrecision(op, storage);
        })
        .Case([&](graph::LmHeadOp head) {
          Store(head.getResult(), f32_);  // logits are f32 in every policy
          SetPrecision(op, policy_.storage);
        })
        .Case([&](graph::CastOp cast) { SetPrecision(op, ElementOf(cast)); })
        .Case([&](graph::AllReduceOp sum) {
          // plan.fbs: collectives sum in f32; the result keeps the type the
          // partial sums are stored in.
          Type storage = Storage(sum.getResult());
          Store(sum.getResult(), storage);
          SetPrecision(op, f32_);
          CastOperand(op, 0, storage);
        })
        .Case([&](graph::AllGatherOp gather) {
          Store(gather.getResult(), ElementOf(gather.getX()));  // a copy
          SetPrecision(op, f32_);
        })
        .Case([&](graph::KvCacheAppendOp append) {
          Type element = ElementOf(append.getK());
          auto cache = append.getCache().getType();
          append.getCache().setType(graph::KvCacheType::get(
              b_.getContext(), cache.getNumHeads(), cache.getHeadDim(), element));
          CastOperand(op, 1, element);
          SetPrecision(op, element);
        })
        .Case<graph::AttentionScoresOp, graph::AlibiBiasOp, graph::CausalMaskOp, graph::SoftmaxOp>(
            [&](mlir::Operation* scores) {
              // The unfused attention: scores and softmax in f32, as fused.
              Store(scores->getResult(0), f32_);
              SetPrecision(op, f32_);
            })
        .Case<graph::AttentionContextOp>([&](mlir::Operation* context) {
          Store(context->getResult(0), policy_.storage);
          SetPrecision(op, f32_);
        })
        .Default([&](mlir::Operation* other) {
          // embedding, linear, split_heads, merge_heads: S throughout.
          if (!mlir::isa<graph::BloomDialect>(other->getDialect())) return;
          for (Value result : other->getResults()) Store(result, Storage(result));
          SetPrecision(op, policy_.storage);
        });
  }

 private:
  Type Storage(Value value) const {
    return policy_.residual_in_f32 && IsResidual(value) ? f32_ : policy_.storage;
  }

  void Store(Value value, Type element) { SetElement(value, element); }

  void SetPrecision(mlir::Operation* op, Type compute) {
    op->setAttr("precision",
                graph::PrecisionAttr::get(b_.getContext(), compute, f32_));
  }

  // Makes operand `index` of `op` have element type `element`, through a
  // bloom.cast (one per value and type, reused by later users).
  void CastOperand(mlir::Operation* op, unsigned index, Type element) {
    Value value = op->getOperand(index);
    if (ElementOf(value) == element) return;
    auto key = std::make_pair(value, element);
    Value cast = casts_.lookup(key);
    if (!cast) {
      mlir::OpBuilder::InsertionGuard guard(b_);
      if (mlir::Operation* def = value.getDefiningOp()) {
        b_.setInsertionPointAfter(def);
      } else {
        b_.setInsertionPointToStart(value.getParentBlock());
      }
      std::string type_name;
      llvm::raw_string_ostream(type_name) << element;
      std::string name =
          (value.getDefiningOp()
               ? graph::TensorName(value.getDefiningOp(),
                                   mlir::cast<mlir::OpResult>(value).getResultNumber(),
                                   "t")
               : std::string("arg")) +
          ".to_" + type_name;
      auto type = mlir::cast<mlir::RankedTensorType>(value.getType()).clone(element);
      cast = b_.create<graph::CastOp>(mlir::NameLoc::get(b_.getStringAttr(name)),
                                      type, value,
                                      graph::PrecisionAttr::get(b_.getContext(),
                                                                element, f32_));
      casts_[key] = cast;
    }
    op->setOperand(index, cast);
  }

  mlir::OpBuilder b_;
  Policy policy_;
  Type f32_;
  llvm::DenseMap<std::pair<Value, Type>, Value> casts_;
};

class BloomAssignPrecisionPass
    : public impl::BloomAssignPrecisionBase<BloomAssignPrecisionPass> {
 public:
  using BloomAssignPrecisionBase::BloomAssignPrecisionBase;

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    mlir::FailureOr<Policy> parsed = ParsePolicy(&getContext(), policy);
    if (mlir::failed(parsed)) {
      module.emitError() << "bloom-assign-precision: unknown policy '" << policy
                         << "' (expected fp32, bf16 or fp16)";
      return signalPassFailure();
    }
    Assigner assigner(&getContext(), *parsed);
    // A pipeline stage's hidden state crosses a cut: one dtype on both
    // sides, or the runtime could not pass stage S's HiddenOut on as stage
    // S+1's HiddenIn. The rule: the residual stream's storage under the
    // policy (S; f32 under fp16, whose residual stream stays f32), which is
    // what the stage before the cut writes it as anyway (the cut value is a
    // residual sum), so neither side casts at fp32 and bf16.
    auto stage = module->getAttrOfType<mlir::IntegerAttr>(kPpStageAttr);
    auto stages = module->getAttrOfType<mlir::IntegerAttr>(kPpSizeAttr);
    const bool cut_before = stage && stage.getInt() > 0;
    const bool cut_after = stage && stages && stage.getInt() < stages.getInt() - 1;
    for (auto func : module.getOps<mlir::func::FuncOp>()) {
      if (func.isExternal()) continue;
      const bool step = func.getSymName() == "step";
      if (step && cut_before && func.getNumArguments() > 0) assigner.DeclareHiddenIn(func);
      llvm::SmallVector<mlir::Operation*> ops;
      func.walk([&](mlir::Operation* op) {
        if (op != func.getOperation()) ops.push_back(op);
      });
      for (mlir::Operation* op : ops) assigner.Visit(op);
      if (step && cut_after) assigner.ReturnHiddenOut(func);
      // The function's type follows what it now takes and returns.
      mlir::Operation* terminator = func.getBody().back().getTerminator();
      func.setFunctionType(mlir::FunctionType::get(
          &getContext(), func.getBody().getArgumentTypes(), terminator->getOperandTypes()));
    }
    module->setAttr(kPrecisionPolicyAttr, mlir::StringAttr::get(&getContext(), policy));
  }
};

}  // namespace
}  // namespace bloom
