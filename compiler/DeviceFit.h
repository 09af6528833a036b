// Whether a plan fits a device's memory, and if not, what would: the
// compile-time error of DESIGN.md decision 5.
#pragma once

#include <cstdint>
#include <string>

#include "llvm/ADT/STLFunctionalExtras.h"

namespace bloom {

// Bytes of one device, by category.
struct MemoryFootprint {
  int64_t weights = 0;
  int64_t kv_cache = 0;
  int64_t activations = 0;  // the arena
  int64_t workspace = 0;
  int64_t total() const { return weights + kv_cache + activations + workspace; }
};

struct PlanLimits {
  int64_t max_batch_tokens = 0;
  int64_t max_logit_rows = 0;
  int64_t max_seq_len = 0;
  int64_t max_sequences = 0;
  int64_t kv_block_size = 0;
};

struct KvGeometry {
  int64_t layers = 0;
  int64_t heads = 0;
  int64_t head_dim = 0;
  int64_t element_bytes = 4;
};

// Blocks of the paged cache: every sequence slot can reach max_seq_len.
int64_t KvCacheBlocks(const PlanLimits& limits);
// K and V pools of every layer: 2 * layers * blocks * heads * block * head_dim.
int64_t KvCacheBytes(const KvGeometry& kv, const PlanLimits& limits);

// "80 GiB", "1.5 MiB", "512 B": binary units, at most one decimal.
std::string FormatBytes(int64_t bytes);

// One line: what the plan needs by category, what `available` is, and what
// would fit instead: the largest --max-seq-len, --max-sequences or
// --max-batch-tokens that fits with the other limits kept, the fewest
// tensor-parallel ranks (--tp) that divide the head count and would fit, a
// lower bound on pipeline stages (--pp), or weight offload (the flags of
// --bloom-tier-memory). `needs` and `kv` are one rank's of a plan
// partitioned over `tp_size` ranks, of one stage of `pp_size`.
// `arena_for_tokens(T)` is the arena a plan with --max-batch-tokens=T would
// need.
std::string DescribeMisfit(const MemoryFootprint& needs, int64_t available,
                           const PlanLimits& limits, const KvGeometry& kv,
                           llvm::function_ref<int64_t(int64_t)> arena_for_tokens,
                           int64_t tp_size = 1, int64_t pp_size = 1);

}  // namespace bloom
