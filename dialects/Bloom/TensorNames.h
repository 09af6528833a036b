// The graph names of an op's tensors, which become plan tensor names (so
// bloom-run can dump any intermediate by the name a person reads in the IR).
//
// A NameLoc names the op's single tensor. An op made by fusing several has a
// FusedLoc whose NameLocs name, in order, its results and then its internal
// buffers (bloom.alibi_attention: the context, then the qkv projection).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "llvm/ADT/SmallVector.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/Operation.h"

namespace bloom::graph {

// The names in `loc`, in order: one for a NameLoc, those of a FusedLoc's
// NameLocs (recursively), none otherwise.
llvm::SmallVector<std::string> TensorNames(mlir::Location loc);

// The name of `op`'s `index`-th tensor (results first, then internal
// buffers), or `fallback` when its location names fewer.
std::string TensorName(mlir::Operation* op, unsigned index,
                       llvm::StringRef fallback);

// N when `name` is one of transformer layer N's tensors or weights: "h.N."
// (N decimal digits) followed by more, as the checkpoint and the graph name
// them ("h.3.mlp.dense_4h_to_h.weight", "h.3.attn_norm").
std::optional<int64_t> LayerOfTensorName(llvm::StringRef name);

// The location of an op that replaces `ops`: their names, in the order given,
// as one FusedLoc.
mlir::Location FusedNameLoc(mlir::MLIRContext* context,
                            llvm::ArrayRef<mlir::Location> locs);

}  // namespace bloom::graph
