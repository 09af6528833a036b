// The arena invariant, stated once for both levels that rely on it (the
// bloom graph after --bloom-plan-memory, and every plan.program): two
// tensors may share arena bytes only if their live ranges are disjoint.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "llvm/ADT/ArrayRef.h"

namespace bloom {

// One tensor in the arena: bytes [offset, offset + bytes), live from step
// `first` to step `last` inclusive (an op or instruction index).
struct ArenaRange {
  std::string name;
  int64_t first = 0;
  int64_t last = 0;
  int64_t offset = 0;
  int64_t bytes = 0;
};

// A description of the first pair of ranges that are live at the same time
// and share bytes ("'a' [0, 64) live 3..5 and 'b' [32, 96) live 5..6
// overlap"), or std::nullopt when there is none. O(n log n + k) for k pairs
// of byte-overlapping ranges.
std::optional<std::string> FindArenaConflict(llvm::ArrayRef<ArenaRange> ranges);

}  // namespace bloom
