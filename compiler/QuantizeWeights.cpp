// --bloom-quantize-weights (see Passes.td): replaces the blocks' linear
// weights (and, when asked, the LM head's) by quantized values, scales and
// zero points read through bloom.dequantize.
//
// The pass decides the storage (dtypes and shapes), not the numbers: the
// values are made from the checkpoint when weights are packed or loaded,
// by the rounding Passes.td states. What it must get right is that every
// later pass sees the bytes a rank will hold: values at 1 byte (int8) or
// half a byte (int4) a weight, plus the scales and zero points as weights
// of their own.
#include <string>
#include <utility>

#include "compiler/KernelContract.h"
#include "compiler/Passes.h"
#include "dialects/Bloom/BloomOps.h"
#include "llvm/ADT/MapVector.h"
#include "mlir/IR/Builders.h"

namespace bloom {

#define GEN_PASS_DEF_BLOOMQUANTIZEWEIGHTS
#include "compiler/Passes.h.inc"

namespace {

using mlir::LogicalResult;

// The scale and zero-point tensors are named after the weight, so that the
// plan, a packed file and a dump name them alike.
std::string ScalesName(llvm::StringRef weight) { return (weight + ".scales").str(); }
std::string ZeroPointsName(llvm::StringRef weight) { return (weight + ".zero_points").str(); }

struct Format {
  bool int4 = false;
  int64_t group_size = 0;  // 0: per output channel (int8)
  int64_t tp = 1;

  bool SameStorage(const Format& other) const {
    return int4 == other.int4 && group_size == other.group_size;
  }
};

// The storage rules checked where the weight is, so the message points at
// the tensor: int4 rows fill whole bytes, groups divide each rank's input
// dimension (a row-parallel slice holds K / tp columns of every row).
LogicalResult CheckGroups(graph::WeightOp weight, const Format& format) {
  const int64_t columns = weight.getType().getDimSize(1);
  if (format.int4 && columns % 2 != 0) {
    return weight.emitError() << "bloom-quantize-weights: int4 packs two values a byte, but '"
                              << weight.getName() << "' has an odd input dimension " << columns;
  }
  if (format.group_size == 0 || columns % format.group_size == 0) return mlir::success();
  const bool row_parallel = weight.hasSlice() && *weight.getSliceDim() == 1;
  if (row_parallel) {
    return weight.emitError() << "bloom-quantize-weights: '" << weight.getName()
                              << "' is row-parallel at tp=" << format.tp << ": each rank's "
                              << columns << " input columns are not a multiple of group-size="
                              << format.group_size
                              << " (a tensor-parallel slice must not split a group)";
  }
  return weight.emitError() << "bloom-quantize-weights: group-size=" << format.group_size
                            << " does not divide the input dimension " << columns << " of '"
                            << weight.getName() << "'";
}

// Replaces `weight` by values + scales (+ zero points) and a dequantize that
// takes over its uses (a tied table: the embedding's and the LM head's).
void Quantize(graph::WeightOp weight, const Format& format) {
  mlir::OpBuilder b(weight);
  mlir::RankedTensorType type = weight.getType();
  const int64_t rows = type.getDimSize(0), columns = type.getDimSize(1);
  const int64_t groups = format.group_size == 0 ? 1 : columns / format.group_size;
  auto values = b.create<graph::WeightOp>(
      weight.getLoc(), type.clone(b.getIntegerType(format.int4 ? 4 : 8)), weight.getNameAttr(),
      weight.getFileAttr(), weight.getTensorAttr(), weight.getStoredDtypeAttr(),
      weight.getSliceDimAttr(), weight.getSliceBeginAttr(), weight.getSliceEndAttr());
  // Scales and zero points have no checkpoint tensor: they are made from
  // the values' source (this rank's slice of it) with the values.
  auto side_tensor = [&](llvm::StringRef name, mlir::Type element) {
    return b.create<graph::WeightOp>(
        weight.getLoc(), mlir::RankedTensorType::get({rows, groups}, element),
        b.getStringAttr(name), nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
  };
  auto scales = side_tensor(ScalesName(weight.getName()), b.getF16Type());
  mlir::Value zero_points;
  if (format.int4) zero_points = side_tensor(ZeroPointsName(weight.getName()), b.getI8Type());
  auto dequantized = b.create<graph::DequantizeOp>(
      weight.getLoc(), type, values.getResult(), scales.getResult(), zero_points,
      b.getI64IntegerAttr(format.group_size), /*precision=*/nullptr);
  weight.getResult().replaceAllUsesWith(dequantized.getResult());
  weight.erase();
}

class BloomQuantizeWeightsPass : public impl::BloomQuantizeWeightsBase<BloomQuantizeWeightsPass> {
 public:
  using BloomQuantizeWeightsBase::BloomQuantizeWeightsBase;

  void runOnOperation() override {
    if (mlir::failed(Run(getOperation()))) signalPassFailure();
  }

 private:
  // The format named `name` (the value of option `option`), with the
  // pass's group size for int4; errors name the option and value.
  mlir::FailureOr<Format> ParseFormat(mlir::ModuleOp module, llvm::StringRef option,
                                      llvm::StringRef name) {
    if (name != "int8" && name != "int4") {
      module.emitError() << "bloom-quantize-weights: " << option << "=" << name
                         << " is not a quantized format (int8 or int4)";
      return mlir::failure();
    }
    Format format;
    format.int4 = name == "int4";
    if (!format.int4) return format;
    const int64_t group_size = groupSize;  // the option, as a number
    if (group_size < 1) {
      module.emitError() << "bloom-quantize-weights: group-size=" << group_size
                         << " must be at least 1";
      return mlir::failure();
    }
    if (group_size % 2 != 0) {
      module.emitError() << "bloom-quantize-weights: group-size=" << group_size
                         << " must be even (int4 groups start on a byte)";
      return mlir::failure();
    }
    format.group_size = group_size;
    return format;
  }

  LogicalResult Run(mlir::ModuleOp module) {
    mlir::FailureOr<Format> parsed = ParseFormat(module, "weights", weights);
    if (mlir::failed(parsed)) return mlir::failure();
    Format format = *parsed;
    // The LM head's format: the blocks' unless lm-head-weights names one.
    const std::string head_name = lmHeadWeights.empty() ? std::string(weights)
                                                        : std::string(lmHeadWeights);
    if (!lmHeadWeights.empty() && !quantizeLmHead) {
      return module.emitError() << "bloom-quantize-weights: lm-head-weights="
                                << std::string(lmHeadWeights)
                                << " needs quantize-lm-head=true (the LM head is not quantized)";
    }
    parsed = ParseFormat(module, "lm-head-weights", head_name);
    if (mlir::failed(parsed)) return mlir::failure();
    Format head_format = *parsed;
    if (auto tp = module->getAttrOfType<mlir::IntegerAttr>(kTpSizeAttr)) {
      format.tp = head_format.tp = tp.getInt();
    }
    if (module->hasAttr(kQuantizationAttr)) {
      return module.emitError("bloom-quantize-weights: the weights are already quantized");
    }
    auto step = module.lookupSymbol<mlir::func::FuncOp>("step");
    if (!step || !step.getBody().hasOneBlock()) {
      return module.emitError("bloom-quantize-weights: no func.func @step with one block");
    }

    // Each weight once, in first-use order (a weight may feed several ops),
    // with the format it is stored in.
    llvm::MapVector<mlir::Operation*, std::pair<graph::WeightOp, const Format*>> chosen;
    auto choose = [&](mlir::Operation* user, mlir::Value weight,
                      const Format& as) -> LogicalResult {
      if (weight.getDefiningOp<graph::DequantizeOp>()) {
        return user->emitError("bloom-quantize-weights: the weights are already quantized");
      }
      auto op = weight.getDefiningOp<graph::WeightOp>();
      if (!op) {
        return user->emitError("bloom-quantize-weights: the weight is not a bloom.weight");
      }
      auto [it, inserted] = chosen.insert({op.getOperation(), {op, &as}});
      // One weight has one storage: a weight read both as a block's linear
      // weight and as the LM head cannot be stored two ways.
      if (!inserted && !it->second.second->SameStorage(as)) {
        return user->emitError() << "bloom-quantize-weights: '" << op.getName()
                                 << "' is both a block's linear weight (" << std::string(weights)
                                 << ") and the LM head's (" << head_name
                                 << "); one weight is stored one way";
      }
      return mlir::success();
    };
    for (mlir::Operation& op : step.getBody().front()) {
      LogicalResult result = mlir::success();
      if (auto linear = mlir::dyn_cast<graph::LinearOp>(op)) {
        result = choose(&op, linear.getWeight(), format);
      } else if (auto attention = mlir::dyn_cast<graph::AlibiAttentionOp>(op)) {
        result = choose(&op, attention.getQkvWeight(), format);
      } else if (auto head = mlir::dyn_cast<graph::LmHeadOp>(op); head && quantizeLmHead) {
        result = choose(&op, head.getWeight(), head_format);
      }
      if (mlir::failed(result)) return mlir::failure();
    }
    for (auto& [op, weight] : chosen) {
      if (mlir::failed(CheckGroups(weight.first, *weight.second))) return mlir::failure();
    }
    for (auto& [op, weight] : chosen) Quantize(weight.first, *weight.second);

    mlir::Builder b(&getContext());
    llvm::SmallVector<mlir::NamedAttribute> fields = {
        b.getNamedAttr("weights", b.getStringAttr(std::string(weights))),
        b.getNamedAttr("group_size", b.getI64IntegerAttr(format.group_size)),
        b.getNamedAttr("lm_head", b.getBoolAttr(static_cast<bool>(quantizeLmHead))),
    };
    // The head's own format, also when it is the blocks' (report.json
    // names it either way).
    if (quantizeLmHead) {
      fields.push_back(b.getNamedAttr("lm_head_weights", b.getStringAttr(head_name)));
      fields.push_back(
          b.getNamedAttr("lm_head_group_size", b.getI64IntegerAttr(head_format.group_size)));
    }
    module->setAttr(kQuantizationAttr, b.getDictionaryAttr(fields));
    return mlir::success();
  }
};

}  // namespace
}  // namespace bloom
