// Runs a plan's step function. The executor owns the plan's memory (weights
// loaded from the checkpoint, one activation arena, the paged KV cache) and
// walks the instruction list, handing each instruction to the backend's
// kernel dispatch. It has no model-specific code: which kernels run, on which
// tensors, in which order, is what the plan says (DESIGN.md, decision 0).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/exec/cpu_dispatch.h"
#include "runtime/exec/kv_cache.h"
#include "runtime/plan/plan_loader.h"

namespace bloom {

// One step's packed batch: T tokens from any sequences (prompt chunks and
// decode tokens alike) and the R token indices whose logits are wanted.
struct StepBatch {
  absl::Span<const int32_t> token_ids;       // T
  absl::Span<const int32_t> positions;       // T: position in its sequence
  absl::Span<const int32_t> sequence_slots;  // T: KV-cache slot of its sequence
  absl::Span<const int32_t> logit_rows;      // R <= T: indices into the T tokens
};

struct ExecutorOptions {
  // Where the weights' files are; empty means the directory recorded in the
  // plan at compile time.
  std::string checkpoint_dir;
  // Called after each weight is loaded (done, total), e.g. for a progress bar.
  std::function<void(size_t, size_t)> on_weight_loaded;
};

// A named tensor's memory after a step, for dumps and tests.
struct TensorView {
  const plan::Tensor* tensor = nullptr;
  const void* data = nullptr;
  int64_t rows = 0;  // the current row count (T, R, or the static first dim)
};

class Executor {
 public:
  static absl::StatusOr<std::unique_ptr<Executor>> Create(LoadedPlan plan,
                                                          const ExecutorOptions& options);

  // Runs the plan once over `batch`. Every sequence slot must be active in
  // kv_cache() with positions reserved up to each token's position. Inputs
  // are checked (sizes, slots, positions, token ids) and a bad one is an
  // InvalidArgument error, never a crash.
  absl::Status Step(const StepBatch& batch);

  // The last step's logits: R rows of vocab_size() floats (the plan keeps
  // logits in F32 under every precision policy).
  absl::Span<const float> logits() const;
  int64_t vocab_size() const { return vocab_size_; }
  const plan::Plan& plan() const { return plan_.plan(); }
  KvCache& kv_cache() { return *kv_cache_; }

  // Finds an activation or weight by its graph name (e.g. "h.0.attn_norm").
  absl::StatusOr<TensorView> FindTensor(absl::string_view name) const;

 private:
  Executor(LoadedPlan plan) : plan_(std::move(plan)) {}
  absl::Status LoadWeights(const ExecutorOptions& options);
  absl::Status AllocateArena();
  int64_t RowsOf(const plan::Tensor& tensor) const;
  absl::Status CheckBatch(const StepBatch& batch) const;

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
  int64_t vocab_size_ = 0;
  int64_t num_tokens_ = 0;       // T of the last step
  int64_t num_logit_rows_ = 0;   // R of the last step
};

}  // namespace bloom
