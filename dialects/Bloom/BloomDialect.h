// The `bloom` dialect (see BloomDialect.td): the BLOOM model graph on tensors.
#pragma once

#include "mlir/IR/Dialect.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace bloom::graph {

// The paged KV cache, as a side-effect resource: the ops that append to it
// and read it are never CSE'd or reordered with one another.
struct KvCacheResource
    : public mlir::SideEffects::Resource::Base<KvCacheResource> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(KvCacheResource)
  llvm::StringRef getName() final { return "KvCache"; }
};

}  // namespace bloom::graph

#include "dialects/Bloom/BloomDialect.h.inc"
