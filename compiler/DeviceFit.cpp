#include "compiler/DeviceFit.h"

#include <cstdio>
#include <vector>

#include "llvm/Support/MathExtras.h"

namespace bloom {

int64_t KvCacheBlocks(const PlanLimits& limits) {
  return limits.max_sequences *
         static_cast<int64_t>(llvm::divideCeil(limits.max_seq_len, limits.kv_block_size));
}

int64_t KvCacheBytes(const KvGeometry& kv, const PlanLimits& limits) {
  return 2 * kv.layers * KvCacheBlocks(limits) * kv.heads * limits.kv_block_size *
         kv.head_dim * kv.element_bytes;
}

std::string FormatBytes(int64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  if (unit == 0 || value == static_cast<double>(static_cast<int64_t>(value))) {
    std::snprintf(text, sizeof(text), "%lld %s",
                  static_cast<long long>(value), kUnits[unit]);
  } else {
    std::snprintf(text, sizeof(text), "%.1f %s", value, kUnits[unit]);
  }
  return text;
}

std::string DescribeMisfit(const MemoryFootprint& needs, int64_t available,
                           const PlanLimits& limits, const KvGeometry& kv,
                           llvm::function_ref<int64_t(int64_t)> arena_for_tokens,
                           int64_t tp_size, int64_t pp_size) {
  std::string line = "plan needs " + FormatBytes(needs.total()) + " (weights " +
                     FormatBytes(needs.weights) + ", KV cache " +
                     FormatBytes(needs.kv_cache) + ", activations " +
                     FormatBytes(needs.activations) + ", workspace " +
                     FormatBytes(needs.workspace) + ") but --device-memory is " +
                     FormatBytes(available) + " (" + std::to_string(available) +
                     " bytes)";
  std::vector<std::string> fits;

  // The KV cache grows with blocks per sequence times sequences.
  const int64_t fixed = needs.weights + needs.activations + needs.workspace;
  const int64_t kv_room = available - fixed;
  PlanLimits one = limits;
  one.max_sequences = 1;
  one.max_seq_len = limits.kv_block_size;
  const int64_t block_bytes = KvCacheBytes(kv, one);  // one block of one slot
  if (kv_room > 0 && block_bytes > 0) {
    int64_t blocks_per_sequence = kv_room / (block_bytes * limits.max_sequences);
    int64_t seq_len = blocks_per_sequence * limits.kv_block_size;
    if (blocks_per_sequence >= 1 && seq_len < limits.max_seq_len) {
      fits.push_back("--max-seq-len=" + std::to_string(seq_len));
    }
    int64_t sequences = kv_room / (block_bytes * static_cast<int64_t>(llvm::divideCeil(
                                                     limits.max_seq_len,
                                                     limits.kv_block_size)));
    if (sequences >= 1 && sequences < limits.max_sequences) {
      fits.push_back("--max-sequences=" + std::to_string(sequences));
    }
  }
  // The arena grows with tokens per step: the largest T that fits.
  const int64_t arena_room =
      available - needs.weights - needs.kv_cache - needs.workspace;
  if (arena_room > 0 && limits.max_batch_tokens > 1) {
    int64_t low = 0, high = limits.max_batch_tokens - 1;
    while (low < high) {
      int64_t mid = (low + high + 1) / 2;
      if (arena_for_tokens(mid) <= arena_room) {
        low = mid;
      } else {
        high = mid - 1;
      }
    }
    if (low >= 1) fits.push_back("--max-batch-tokens=" + std::to_string(low));
  }
  // Tensor parallelism splits weights and KV heads over ranks; activations
  // stay (roughly) whole on each. --bloom-partition-tp needs whole heads per
  // rank, so the suggestion is the fewest ranks that divide the heads.
  const int64_t per_rank_room = available - needs.activations - needs.workspace;
  if (per_rank_room > 0) {
    int64_t sharded = needs.weights + needs.kv_cache;
    int64_t ranks =
        static_cast<int64_t>(llvm::divideCeil(sharded, per_rank_room)) * tp_size;
    const int64_t heads = kv.layers > 0 ? kv.heads * tp_size : 0;
    if (heads > 0) {
      while (ranks <= heads && heads % ranks != 0) ++ranks;
    }
    if (ranks > tp_size && (heads == 0 || ranks <= heads)) {
      fits.push_back("--tp=" + std::to_string(ranks) + " (the fewest ranks" +
                     (heads > 0 ? " that divide the " + std::to_string(heads) +
                                      " heads"
                                : std::string()) +
                     ")");
    }
  }
  // Pipeline stages split the layers, and with them the weights and the KV
  // cache; each stage keeps an arena. The stages' shares are not known here
  // (the first and last also hold the embedding and the head, and the split
  // is balanced by decode bytes, not memory), so the suggestion is a lower
  // bound: this plan's weights and KV cache over a device's room. A plan
  // that is one of `pp_size` stages counts each stage like this one.
  if (per_rank_room > 0 && kv.layers > 0) {
    const int64_t share = static_cast<int64_t>(
        llvm::divideCeil(needs.weights + needs.kv_cache, per_rank_room));
    const int64_t stages = share * pp_size;
    if (share > 1 && share <= kv.layers) {
      fits.push_back("--pp=" + std::to_string(stages) + " or more (" +
                     (pp_size > 1 ? "this stage's layers over " + std::to_string(share) +
                                        " stages"
                                  : std::string("each stage holding its layers' share of "
                                                "the weights and KV cache")) +
                     ")");
    }
  }
  if (needs.weights > 0 && needs.kv_cache + needs.activations + needs.workspace < available) {
    fits.push_back("offloading weights (--host-memory=BYTES or --disk-dir=PATH: --bloom-tier-memory)");
  }
  if (fits.empty()) return line + "; nothing smaller fits";
  line += "; would fit: ";
  for (size_t i = 0; i < fits.size(); ++i) {
    line += (i == 0 ? "" : ", or ") + fits[i];
  }
  return line;
}

}  // namespace bloom
