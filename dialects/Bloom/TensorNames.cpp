#include "dialects/Bloom/TensorNames.h"

#include "mlir/IR/BuiltinAttributes.h"

namespace bloom::graph {
namespace {

void Collect(mlir::Location loc, llvm::SmallVector<std::string>& names) {
  if (auto name = mlir::dyn_cast<mlir::NameLoc>(loc)) {
    names.push_back(name.getName().str());
  } else if (auto fused = mlir::dyn_cast<mlir::FusedLoc>(loc)) {
    for (mlir::Location part : fused.getLocations()) Collect(part, names);
  }
}

}  // namespace

llvm::SmallVector<std::string> TensorNames(mlir::Location loc) {
  llvm::SmallVector<std::string> names;
  Collect(loc, names);
  return names;
}

std::string TensorName(mlir::Operation* op, unsigned index,
                       llvm::StringRef fallback) {
  llvm::SmallVector<std::string> names = TensorNames(op->getLoc());
  return index < names.size() ? names[index] : fallback.str();
}

mlir::Location FusedNameLoc(mlir::MLIRContext* context,
                            llvm::ArrayRef<mlir::Location> locs) {
  // FusedLoc::get drops duplicates but keeps order, which TensorNames needs.
  return mlir::FusedLoc::get(context, locs);
}

}  // namespace bloom::graph
