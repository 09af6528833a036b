#include "dialects/Plan/ArenaCheck.h"

#include <algorithm>
#include <numeric>
#include <vector>

namespace bloom {

std::optional<std::string> FindArenaConflict(llvm::ArrayRef<ArenaRange> ranges) {
  // Sweep in offset order: a range can only share bytes with the ranges
  // that start before it ends, so the inner loop stops at the first one
  // that starts at or after its end.
  std::vector<size_t> order(ranges.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return ranges[a].offset < ranges[b].offset;
  });
  for (size_t i = 0; i < order.size(); ++i) {
    const ArenaRange& a = ranges[order[i]];
    if (a.bytes <= 0) continue;
    for (size_t j = i + 1; j < order.size(); ++j) {
      const ArenaRange& b = ranges[order[j]];
      if (b.offset >= a.offset + a.bytes) break;
      if (b.bytes <= 0) continue;
      if (a.first <= b.last && b.first <= a.last) {
        return "'" + a.name + "' [" + std::to_string(a.offset) + ", " +
               std::to_string(a.offset + a.bytes) + ") live " +
               std::to_string(a.first) + ".." + std::to_string(a.last) +
               " and '" + b.name + "' [" + std::to_string(b.offset) + ", " +
               std::to_string(b.offset + b.bytes) + ") live " +
               std::to_string(b.first) + ".." + std::to_string(b.last) +
               " share arena bytes";
      }
    }
  }
  return std::nullopt;
}

}  // namespace bloom
