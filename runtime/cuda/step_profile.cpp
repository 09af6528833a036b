#include "runtime/cuda/step_profile.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/exec/plan_view.h"

namespace bloom {
namespace {

// "h.12.mlp_gelu" -> "mlp_gelu"; names outside layers are kept.
std::string WithoutLayer(const std::string& name) {
  if (name.rfind("h.", 0) != 0) return name;
  const size_t dot = name.find('.', 2);
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

struct Cost {
  double bytes = 0, flops = 0;
};

// Bytes of every tensor of `ids` at the step's rows.
double BytesOfAll(const plan::Plan& plan, const flatbuffers::Vector<uint32_t>& ids,
                  const StepRows& rows) {
  double bytes = 0;
  for (uint32_t id : ids) {
    const plan::Tensor& t = *plan.tensors()->Get(id);
    bytes += BytesOf(t, RowsAt(t, rows));
  }
  return bytes;
}

// Attention's K and V reads: a run of tokens of one sequence at
// consecutive positions (a prefill chunk, or a lone decode token) reads the
// K and V rows of its sequence up to its last position once, however many
// of its queries attend to them; `row_bytes` is one position's K (or V)
// over every head.
double KvBytesRead(const ProfiledStep& step, double row_bytes) {
  double bytes = 0;
  const size_t n = step.positions.size();
  for (size_t i = 0; i < n; ++i) {
    const bool run_goes_on = i + 1 < n && i + 1 < step.slots.size() &&
                             step.slots[i + 1] == step.slots[i] &&
                             step.positions[i + 1] == step.positions[i] + 1;
    if (!run_goes_on) bytes += 2.0 * (step.positions[i] + 1) * row_bytes;
  }
  return bytes;
}

// The fewest bytes an instruction must move (each operand read once, each
// result written once; an embedding gather reads only its rows, attention
// reads the K and V rows each run of a sequence's tokens attends to once)
// and its FLOPs (Linear's product; attention's q·K and p·V over the keys
// each token attends to). Exhaustive: a new kernel states its cost here.
Cost CostOf(const plan::Plan& plan, const plan::Instruction& instruction,
            const ProfiledStep& step) {
  const StepRows rows{step.tokens, step.logit_rows};
  const auto* in = instruction.operands();
  const auto* out = instruction.results();
  Cost cost;
  cost.bytes = BytesOfAll(plan, *out, rows);
  switch (instruction.kernel_type()) {
    case plan::Kernel::EmbeddingGather:
      cost.bytes *= 2;  // the rows read equal the rows written
      return cost;
    case plan::Kernel::Linear: {
      cost.bytes += BytesOfAll(plan, *in, rows);
      const plan::Tensor& x = *plan.tensors()->Get(in->Get(0));
      const plan::Tensor& y = *plan.tensors()->Get(out->Get(0));
      cost.flops = 2.0 * RowsAt(x, rows) * ColumnsOf(x) * ColumnsOf(y);
      return cost;
    }
    case plan::Kernel::AlibiAttention: {
      cost.bytes += BytesOfAll(plan, *in, rows);
      const auto* a = instruction.kernel_as_AlibiAttention();
      const int64_t row = static_cast<int64_t>(a->num_heads()) * a->head_dim() *
                          static_cast<int64_t>(DTypeSize(ToDType(plan.kv_cache()->dtype())));
      // K and V, the new rows included.
      cost.bytes += KvBytesRead(step, static_cast<double>(row));
      const double dims = static_cast<double>(a->num_heads()) * a->head_dim();
      for (int32_t p : step.positions) cost.flops += 4.0 * (p + 1) * dims;
      return cost;
    }
    case plan::Kernel::LayerNorm:
    case plan::Kernel::AddLayerNorm:
    case plan::Kernel::Gelu:
    case plan::Kernel::Add:
    case plan::Kernel::Cast:
    case plan::Kernel::GatherRows:
    case plan::Kernel::AllReduce:
    case plan::Kernel::AllGather:
    case plan::Kernel::PrefetchWeights:  // no operands or results: nothing
    case plan::Kernel::AwaitWeights:
    case plan::Kernel::NONE:
      cost.bytes += BytesOfAll(plan, *in, rows);
      return cost;
  }
  return cost;
}

struct Category {
  int count = 0;
  double ms = 0, bytes = 0, floor_ms = 0;
};

}  // namespace

std::string FormatStepProfile(const plan::Plan& plan, const ProfiledStep& step,
                              const std::vector<double>& ms, double total_ms,
                              bool every_instruction, const ProfileCeilings& ceilings) {
  const auto* instructions = plan.instructions();
  std::map<std::string, Category> categories;
  std::vector<std::string> order;
  std::string lines;
  double sum_ms = 0, sum_floor = 0, sum_bytes = 0;
  for (size_t i = 0; i < instructions->size() && i < ms.size(); ++i) {
    const plan::Instruction& instruction = *instructions->Get(i);
    // PrefetchWeights/AwaitWeights have no result: they are listed by kernel.
    const std::string result =
        instruction.results()->size() == 0
            ? std::string()
            : plan.tensors()->Get(instruction.results()->Get(0))->name()->str();
    std::string name = plan::EnumNameKernel(instruction.kernel_type());
    if (instruction.kernel_type() == plan::Kernel::Linear) name += " " + WithoutLayer(result);
    const Cost cost = CostOf(plan, instruction, step);
    const double floor_ms =
        1e3 * std::max(cost.bytes / ceilings.bytes_per_s, cost.flops / ceilings.flops_per_s);
    if (categories.find(name) == categories.end()) order.push_back(name);
    Category& c = categories[name];
    ++c.count;
    c.ms += ms[i];
    c.bytes += cost.bytes;
    c.floor_ms += floor_ms;
    sum_ms += ms[i];
    sum_floor += floor_ms;
    sum_bytes += cost.bytes;
    const bool listed =
        every_instruction || result.rfind("h.", 0) != 0 || result.rfind("h.0.", 0) == 0;
    if (listed) {
      absl::StrAppendFormat(&lines, "  %4d %-16s %-28s %9.1f us  %8.2f MB  floor %8.1f us\n",
                            static_cast<int>(i), plan::EnumNameKernel(instruction.kernel_type()),
                            result, 1e3 * ms[i], cost.bytes / 1e6, 1e3 * floor_ms);
    }
  }
  std::string report = absl::StrFormat(
      "== profile: T=%d R=%d, %d instructions, step %.3f ms (events first to last), sum %.3f ms, "
      "floor %.3f ms (%.2f GB at %.1f TB/s)\n",
      static_cast<int>(step.tokens), static_cast<int>(step.logit_rows),
      static_cast<int>(instructions->size()), total_ms, sum_ms, sum_floor, sum_bytes / 1e9,
      ceilings.bytes_per_s / 1e12);
  absl::StrAppendFormat(&report, "  %-28s %5s %10s %9s %9s %10s %6s\n", "category", "count",
                        "total us", "mean us", "GB/s", "floor us", "x floor");
  for (const std::string& name : order) {
    const Category& c = categories[name];
    absl::StrAppendFormat(&report, "  %-28s %5d %10.1f %9.2f %9.0f %10.1f %6.2f\n", name, c.count,
                          1e3 * c.ms, 1e3 * c.ms / c.count, c.ms > 0 ? c.bytes / (c.ms * 1e6) : 0.0,
                          1e3 * c.floor_ms, c.floor_ms > 0 ? c.ms / c.floor_ms : 0.0);
  }
  return report + lines;
}

}  // namespace bloom
