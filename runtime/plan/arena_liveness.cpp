#include "runtime/plan/arena_liveness.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/plan/plan_validator.h"

namespace bloom {
namespace {

struct LiveRange {
  int64_t first = std::numeric_limits<int64_t>::max();
  int64_t last = -1;
  bool used() const { return last >= 0; }
};

}  // namespace

absl::Status CheckArenaLiveness(const plan::Plan& plan, absl::string_view label) {
  const auto* tensors = plan.tensors();
  const auto* instructions = plan.instructions();
  const int64_t end = static_cast<int64_t>(instructions->size()) - 1;
  std::vector<LiveRange> live(tensors->size());
  std::vector<bool> written(tensors->size(), false);

  for (int64_t i = 0; i <= end; ++i) {
    const auto* instruction = instructions->Get(i);
    for (uint32_t id : *instruction->operands()) {
      const auto* tensor = tensors->Get(id);
      if (tensor->kind() == plan::TensorKind::Activation && tensor->role() == plan::TensorRole::None &&
          !written[id]) {
        return absl::InvalidArgumentError(absl::StrCat(label, ": instruction ", i, " reads '",
                                                       tensor->name()->str(),
                                                       "' before any instruction writes it"));
      }
      live[id].first = std::min(live[id].first, i);
      live[id].last = std::max(live[id].last, i);
    }
    for (uint32_t id : *instruction->results()) {
      written[id] = true;
      live[id].first = std::min(live[id].first, i);
      live[id].last = std::max(live[id].last, i);
    }
  }

  struct Placed {
    uint32_t id;
    LiveRange range;
    uint64_t begin, end;
  };
  std::vector<Placed> placed;
  for (uint32_t id = 0; id < tensors->size(); ++id) {
    const auto* tensor = tensors->Get(id);
    if (tensor->kind() == plan::TensorKind::Weight) continue;
    LiveRange range = live[id];
    if (tensor->role() != plan::TensorRole::None) range = {0, end};
    if (!range.used()) continue;
    placed.push_back({id, range, tensor->arena_offset(),
                      tensor->arena_offset() + TensorCapacityBytes(*tensor, plan)});
  }
  // Sweep by start offset: only tensors whose byte ranges overlap are
  // compared, so typical plans cost far less than all pairs.
  std::sort(placed.begin(), placed.end(), [](const Placed& a, const Placed& b) { return a.begin < b.begin; });
  for (size_t a = 0; a < placed.size(); ++a) {
    for (size_t b = a + 1; b < placed.size() && placed[b].begin < placed[a].end; ++b) {
      const LiveRange& ra = placed[a].range;
      const LiveRange& rb = placed[b].range;
      if (ra.first <= rb.last && rb.first <= ra.last) {
        return absl::InvalidArgumentError(absl::StrCat(
            label, ": activations '", tensors->Get(placed[a].id)->name()->str(), "' and '",
            tensors->Get(placed[b].id)->name()->str(), "' share arena bytes while both are live (instructions ",
            std::max(ra.first, rb.first), " to ", std::min(ra.last, rb.last), ")"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace bloom
