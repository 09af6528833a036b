// Offsets for the activation arena, from live ranges (see Liveness.h).
#pragma once

#include <cstdint>
#include <vector>

#include "compiler/Liveness.h"

namespace bloom {

inline constexpr int64_t kArenaAlign = 64;

struct ArenaPlacement {
  std::vector<int64_t> offsets;  // one per StepLiveness::tensors entry
  int64_t arena_bytes = 0;
  // What a bump allocation (every tensor its own bytes) would need.
  int64_t arena_bytes_without_reuse = 0;
};

// Greedy by size: tensors in order of decreasing room (ties: earlier write
// first, then analysis order) each take the lowest 64-byte-aligned offset
// where they share no bytes with an already placed tensor whose live range
// overlaps theirs (first fit). With `reuse` false every tensor gets its own
// bytes, in analysis order.
ArenaPlacement PlaceArena(const StepLiveness& liveness, int64_t max_batch_tokens,
                          int64_t max_logit_rows, bool reuse);

}  // namespace bloom
