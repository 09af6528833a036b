#include "compiler/ArenaPlacement.h"

#include <algorithm>
#include <numeric>

#include "llvm/Support/MathExtras.h"

namespace bloom {

ArenaPlacement PlaceArena(const StepLiveness& liveness, int64_t max_batch_tokens,
                          int64_t max_logit_rows, bool reuse) {
  const std::vector<ArenaTensor>& tensors = liveness.tensors;
  const size_t n = tensors.size();
  std::vector<int64_t> room(n);
  ArenaPlacement placement;
  placement.offsets.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    room[i] = static_cast<int64_t>(llvm::alignTo(
        TensorBytes(tensors[i], max_batch_tokens, max_logit_rows), kArenaAlign));
    placement.offsets[i] = placement.arena_bytes_without_reuse;
    placement.arena_bytes_without_reuse += room[i];
  }
  if (!reuse) {
    placement.arena_bytes = placement.arena_bytes_without_reuse;
    return placement;
  }

  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (room[a] != room[b]) return room[a] > room[b];
    return tensors[a].first < tensors[b].first;
  });
  std::vector<size_t> placed;
  std::vector<size_t> conflicts;
  for (size_t i : order) {
    conflicts.clear();
    for (size_t j : placed) {
      if (tensors[i].first <= tensors[j].last && tensors[j].first <= tensors[i].last) {
        conflicts.push_back(j);
      }
    }
    std::sort(conflicts.begin(), conflicts.end(), [&](size_t a, size_t b) {
      return placement.offsets[a] < placement.offsets[b];
    });
    // Lowest gap of room[i] bytes below, between or above the conflicts.
    int64_t offset = 0;
    for (size_t j : conflicts) {
      if (offset + room[i] <= placement.offsets[j]) break;
      offset = std::max(offset, placement.offsets[j] + room[j]);
    }
    placement.offsets[i] = offset;
    placement.arena_bytes = std::max(placement.arena_bytes, offset + room[i]);
    placed.push_back(i);
  }
  return placement;
}

}  // namespace bloom
