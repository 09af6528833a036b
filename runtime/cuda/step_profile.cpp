#include "runtime/cuda/step_profile.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace bloom {
namespace {

int64_t ElementBytes(plan::DType dtype) {
  switch (dtype) {
    case plan::DType::F16:
    case plan::DType::BF16:
      return 2;
    default:
      return 4;
  }
}

int64_t RowsAs(const plan::Tensor& t, const ProfiledStep& step) {
  switch (t.rows()) {
    case plan::RowDim::Tokens:
      return step.tokens;
    case plan::RowDim::LogitRows:
      return step.logit_rows;
    default:
      return t.shape()->Get(0);
  }
}

int64_t TensorBytes(const plan::Tensor& t, int64_t rows) {
  int64_t n = rows;
  for (size_t i = 1; i < t.shape()->size(); ++i) n *= t.shape()->Get(i);
  return n * ElementBytes(t.dtype());
}

// "h.12.mlp_gelu" -> "mlp_gelu"; names outside layers are kept.
std::string WithoutLayer(const std::string& name) {
  if (name.rfind("h.", 0) != 0) return name;
  const size_t dot = name.find('.', 2);
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

struct Cost {
  double bytes = 0, flops = 0;
};

// The fewest bytes an instruction must move (each operand read once, each
// result written once; an embedding gather reads only its rows, attention
// reads every cached K and V row its real tokens attend to) and its FLOPs
// (Linear only).
Cost CostOf(const plan::Plan& plan, const plan::Instruction& instruction,
            const ProfiledStep& step) {
  const auto* tensors = plan.tensors();
  Cost cost;
  const auto* in = instruction.operands();
  const auto* out = instruction.results();
  for (size_t i = 0; i < out->size(); ++i) {
    const plan::Tensor& t = *tensors->Get(out->Get(i));
    cost.bytes += TensorBytes(t, RowsAs(t, step));
  }
  if (instruction.kernel_type() == plan::Kernel::EmbeddingGather) {
    cost.bytes *= 2;  // the rows read equal the rows written
    return cost;
  }
  for (size_t i = 0; i < in->size(); ++i) {
    const plan::Tensor& t = *tensors->Get(in->Get(i));
    cost.bytes += TensorBytes(t, RowsAs(t, step));
  }
  if (instruction.kernel_type() == plan::Kernel::Linear) {
    const plan::Tensor& x = *tensors->Get(in->Get(0));
    const plan::Tensor& y = *tensors->Get(out->Get(0));
    cost.flops = 2.0 * RowsAs(x, step) * TensorBytes(x, 1) / ElementBytes(x.dtype()) *
                 (TensorBytes(y, 1) / ElementBytes(y.dtype()));
  }
  if (const auto* a = instruction.kernel_as_AlibiAttention(); a != nullptr) {
    const int64_t row = static_cast<int64_t>(a->num_heads()) * a->head_dim() *
                        ElementBytes(plan.kv_cache()->dtype());
    for (int32_t p : step.positions)
      cost.bytes += 2.0 * (p + 1) * row;  // K and V, the new row included
  }
  return cost;
}

struct Category {
  int count = 0;
  double ms = 0, bytes = 0, floor_ms = 0;
};

// `*rate` = the variable's value × `unit` when it is set.
absl::Status ReadRate(const char* variable, double unit, double* rate) {
  const char* text = std::getenv(variable);
  if (text == nullptr) return absl::OkStatus();
  double value = 0;
  if (!absl::SimpleAtod(text, &value) || !std::isfinite(value) || value <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(variable, ": expected a positive number, got '", text, "'"));
  }
  *rate = value * unit;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ProfileCeilings> ProfileCeilingsFromEnvironment() {
  ProfileCeilings ceilings;
  if (absl::Status s = ReadRate("BLOOM_CUDA_PROFILE_GB_PER_S", 1e9, &ceilings.bytes_per_s);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadRate("BLOOM_CUDA_PROFILE_TFLOPS", 1e12, &ceilings.flops_per_s);
      !s.ok()) {
    return s;
  }
  return ceilings;
}

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
