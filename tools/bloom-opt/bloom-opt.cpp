// bloom-opt: runs the compiler's passes one at a time on textual IR, for lit
// tests and debugging (e.g. `bloom-opt --bloom-lower-to-plan graph.mlir`).
#include "compiler/Passes.h"
#include "dialects/Bloom/BloomDialect.h"
#include "dialects/Plan/PlanDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char** argv) {
  bloom::registerBloomPasses();
  // Upstream cleanups (canonicalize, cse, ...) to check what they may touch.
  mlir::registerTransformsPasses();
  mlir::DialectRegistry registry;
  registry.insert<mlir::func::FuncDialect, bloom::graph::BloomDialect,
                  bloom::plan_ir::PlanDialect>();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "BLOOM compiler pass driver\n", registry));
}
