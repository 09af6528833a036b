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

std::optional<int64_t> LayerOfTensorName(llvm::StringRef name) {
  if (!name.consume_front("h.")) return std::nullopt;
  llvm::StringRef digits = name.take_while([](char c) { return c >= '0' && c <= '9'; });
  llvm::StringRef rest = name.drop_front(digits.size());
  if (digits.empty() || !rest.consume_front(".") || rest.empty()) return std::nullopt;
  int64_t layer = 0;
  if (digits.getAsInteger(10, layer)) return std::nullopt;  // too many digits
  return layer;
}

mlir::Location FusedNameLoc(mlir::MLIRContext* context,
                            llvm::ArrayRef<mlir::Location> locs) {
  // FusedLoc::get drops duplicates but keeps order, which TensorNames needs.
  return mlir::FusedLoc::get(context, locs);
}

}  // namespace bloom::graph
