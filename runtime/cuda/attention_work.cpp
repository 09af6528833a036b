#include "runtime/cuda/attention_work.h"

#include <algorithm>

namespace bloom {
namespace {

bool Continues(absl::Span<const int32_t> positions, absl::Span<const int32_t> slots, size_t i) {
  return i > 0 && slots[i] == slots[i - 1] && positions[i] == positions[i - 1] + 1;
}

}  // namespace

int32_t DecodeCapacity(const plan::Plan& plan) {
  for (const plan::Instruction* instruction : *plan.instructions()) {
    if (instruction->kernel_type() == plan::Kernel::AlibiAttention) {
      const auto* limits = plan.limits();
      return std::min(limits->max_batch_tokens(), std::max(limits->max_sequences(), 1));
    }
  }
  return 0;
}

AttentionWork PlanAttentionWork(absl::Span<const int32_t> positions,
                                absl::Span<const int32_t> slots, int32_t max_tile_queries,
                                int32_t decode_capacity) {
  AttentionWork work;
  const size_t count = positions.size();
  size_t begin = 0;
  while (begin < count) {
    size_t end = begin + 1;
    while (end < count && Continues(positions, slots, end)) ++end;
    if (end - begin == 1 && static_cast<int32_t>(work.decode_tokens.size()) < decode_capacity) {
      work.decode_tokens.push_back(static_cast<int32_t>(begin));
    } else {
      for (size_t first = begin; first < end; first += max_tile_queries) {
        const size_t n = std::min(end - first, static_cast<size_t>(max_tile_queries));
        work.tiles.push_back(cuda::AttentionTile{
            static_cast<int32_t>(first), static_cast<int32_t>(n), slots[first], positions[first]});
      }
    }
    begin = end;
  }
  return work;
}

bool IsDecodeOnlyStep(absl::Span<const int32_t> positions, absl::Span<const int32_t> slots,
                      int32_t decode_capacity) {
  if (static_cast<int64_t>(positions.size()) > decode_capacity) return false;
  for (size_t i = 1; i < positions.size(); ++i) {
    if (Continues(positions, slots, i)) return false;
  }
  return true;
}

}  // namespace bloom
