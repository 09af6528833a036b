// The `bloom` dialect's attributes and types: generated code plus the
// precision attribute's verifier.
#include "dialects/Bloom/BloomAttrs.h"

#include "llvm/ADT/TypeSwitch.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "dialects/Bloom/BloomOps.h"

#include "dialects/Bloom/BloomEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/Bloom/BloomAttrs.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "dialects/Bloom/BloomTypes.cpp.inc"

namespace bloom::graph {

void BloomDialect::registerAttributesAndTypes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/Bloom/BloomAttrs.cpp.inc"
      >();
  addTypes<
#define GET_TYPEDEF_LIST
#include "dialects/Bloom/BloomTypes.cpp.inc"
      >();
}

// compute and accumulate become plan.fbs DTypes, which have no other floats.
mlir::LogicalResult PrecisionAttr::verify(
    llvm::function_ref<mlir::InFlightDiagnostic()> emit_error,
    mlir::Type compute, mlir::Type accumulate) {
  for (mlir::Type type : {compute, accumulate}) {
    if (!type.isF32() && !type.isF16() && !type.isBF16()) {
      return emit_error() << "precision types must be f32, f16 or bf16, got "
                          << type;
    }
  }
  return mlir::success();
}

}  // namespace bloom::graph
