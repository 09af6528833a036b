// The `plan` dialect (see PlanDialect.td): kernel calls on arena buffers, the
// level that plan.bplan serializes.
#pragma once

#include "mlir/IR/Dialect.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace bloom::plan_ir {

// The paged KV cache, as a side-effect resource of plan.alibi_attention.
struct KvCacheResource
    : public mlir::SideEffects::Resource::Base<KvCacheResource> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(KvCacheResource)
  llvm::StringRef getName() final { return "KvCache"; }
};

// Activations and step inputs start at multiples of this many bytes.
inline constexpr int64_t kArenaAlignment = 64;
// Memory tiering (plan.fbs's WeightUnit): a unit's size and a disk unit's
// file offset are multiples of kWeightUnitAlignment (direct I/O reads whole
// 4096-byte blocks); a streamed weight's offset inside its unit (and slot)
// is a multiple of kWeightSlotAlignment (wide vector loads on any device).
inline constexpr int64_t kWeightUnitAlignment = 4096;
inline constexpr int64_t kWeightSlotAlignment = 256;

}  // namespace bloom::plan_ir

#include "dialects/Plan/PlanDialect.h.inc"
