// The CPU reference backend's executor (DESIGN.md, decision 8): weights in
// host memory as float32 (holding exactly the values of their storage
// dtype), one activation arena laid out as the plan says, the KV cache's
// pools in host memory, and the fp32 kernels of kernels/cpu through
// CpuDispatch, which emulates F16/BF16 storage by rounding.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/exec/cpu_dispatch.h"
#include "runtime/exec/executor.h"
#include "runtime/plan/plan_loader.h"

namespace bloom {

// A named tensor's memory after a step, for dumps and tests.
struct TensorView {
  const plan::Tensor* tensor = nullptr;
  const void* data = nullptr;
  int64_t rows = 0;  // the current row count (T, R, or the static first dim)
};

class CpuExecutor : public StepExecutor {
 public:
  static absl::StatusOr<std::unique_ptr<CpuExecutor>> Create(LoadedPlan plan,
                                                             const ExecutorOptions& options);

  absl::Status Step(const StepBatch& batch) override;
  absl::Span<const float> logits() const override;
  const plan::Plan& plan() const override { return plan_.plan(); }
  KvCache& kv_cache() override { return *kv_cache_; }
  std::string device_name() const override { return "cpu"; }
  // The process's peak resident set size.
  int64_t peak_device_bytes() const override;

  // Finds an activation or weight by its graph name (e.g. "h.0.attn_norm").
  absl::StatusOr<TensorView> FindTensor(absl::string_view name) const;

 private:
  explicit CpuExecutor(LoadedPlan plan) : plan_(std::move(plan)) {}
  absl::Status LoadWeights(const ExecutorOptions& options);
  absl::Status AllocateArena();
  int64_t RowsOf(const plan::Tensor& tensor) const;

  LoadedPlan plan_;
  CpuDispatch cpu_;
  std::unique_ptr<KvCache> kv_cache_;
  // Per tensor index: its memory (weights in weight_storage_, the rest in
  // the arena).
  std::vector<uint8_t*> tensor_data_;
  std::vector<std::vector<float>> weight_storage_;
  std::unique_ptr<uint8_t, void (*)(void*)> arena_{nullptr, nullptr};
  // Indices of the step interface's tensors.
  uint32_t token_ids_ = 0, positions_ = 0, sequence_slots_ = 0, logit_rows_ = 0, logits_ = 0;
  int64_t num_tokens_ = 0;      // T of the last step
  int64_t num_logit_rows_ = 0;  // R of the last step
};

}  // namespace bloom
