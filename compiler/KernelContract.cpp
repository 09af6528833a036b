#include "compiler/KernelContract.h"

#include "dialects/Bloom/BloomOps.h"
#include "mlir/IR/BuiltinAttributes.h"

namespace bloom {

bool HasKernel(mlir::Operation* op) {
  if (!mlir::isa<graph::BloomDialect>(op->getDialect())) return true;
  return mlir::isa<graph::WeightOp, graph::EmbeddingOp, graph::LayerNormOp, graph::AddLayerNormOp,
                   graph::LinearOp, graph::GeluOp, graph::AddOp, graph::CastOp,
                   graph::AlibiAttentionOp, graph::GatherRowsOp, graph::LmHeadOp,
                   graph::AllReduceOp, graph::AllGatherOp, graph::PrefetchWeightsOp,
                   graph::AwaitWeightsOp, graph::DequantizeOp>(op);
}

mlir::LogicalResult CheckKernels(mlir::Operation* step) {
  mlir::WalkResult walk = step->walk([](mlir::Operation* op) {
    if (HasKernel(op)) return mlir::WalkResult::advance();
    op->emitError() << op->getName() << " has no kernel; run --bloom-fuse first";
    return mlir::WalkResult::interrupt();
  });
  return mlir::failure(walk.wasInterrupted());
}

mlir::LogicalResult CheckPrecisionAssigned(mlir::Operation* step) {
  mlir::WalkResult walk = step->walk([](mlir::Operation* op) {
    if (!mlir::isa<graph::BloomDialect>(op->getDialect()) ||
        mlir::isa<graph::WeightOp, graph::PrefetchWeightsOp, graph::AwaitWeightsOp>(op)) {
      return mlir::WalkResult::advance();
    }
    bool assigned = op->hasAttr("precision");
    if (auto attention = mlir::dyn_cast<graph::AlibiAttentionOp>(op)) {
      assigned = assigned && attention.getQkvPrecision().has_value() &&
                 attention.getQkvStorage().has_value();
    }
    if (assigned) return mlir::WalkResult::advance();
    op->emitError() << op->getName()
                    << " has no precision; run --bloom-assign-precision first";
    return mlir::WalkResult::interrupt();
  });
  return mlir::failure(walk.wasInterrupted());
}

}  // namespace bloom
