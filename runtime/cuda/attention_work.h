// Host-side planning of one step's attention work (plain C++, no CUDA, so
// it is tested without a GPU). The executor has the step's positions and
// slots on the host, cuts the packed batch once per step, and uploads the
// result with the other step inputs in one copy; every attention op of the
// step reuses it.
//
// A run is a maximal stretch of consecutive batch tokens of one slot at
// consecutive positions (a prompt chunk, or a lone decode token). Runs of
// two or more tokens become prefill tiles of at most max_tile_queries
// tokens; lone tokens go to the split-K decode kernel while there is room
// in its list (decode_capacity), and become one-token tiles after that.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "kernels/cuda/paged_kv.cuh"
#include "runtime/plan/plan_generated.h"

namespace bloom {

struct AttentionWork {
  std::vector<cuda::AttentionTile> tiles;
  std::vector<int32_t> decode_tokens;  // batch indices
};

// Lone decode tokens a step's decode list holds at most:
// min(max_batch_tokens, max(max_sequences, 1)) for a plan with attention,
// 0 for one without (whose steps are then never decode-only). The decode
// attention's scratch is sized for it, and graph buckets are capped by it.
int32_t DecodeCapacity(const plan::Plan& plan);

AttentionWork PlanAttentionWork(absl::Span<const int32_t> positions,
                                absl::Span<const int32_t> slots, int32_t max_tile_queries,
                                int32_t decode_capacity);

// True when every token is a lone decode token (no two consecutive tokens
// of one slot at consecutive positions) and they fit in decode_capacity:
// the steps the executor replays from a CUDA graph.
bool IsDecodeOnlyStep(absl::Span<const int32_t> positions, absl::Span<const int32_t> slots,
                      int32_t decode_capacity);

}  // namespace bloom
