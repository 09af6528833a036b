// The backend-neutral face of plan execution. A StepExecutor owns a plan's
// memory on some device (weights, the activation arena, the paged KV
// cache's pools) and runs the plan's step function over a packed batch; the
// generator, bloom-run and tests talk to this interface only. Backends:
// CpuExecutor (runtime/cpu/cpu_executor.h, the reference) and, where CUDA
// is built, the CUDA executor. None has model-specific code: which kernels
// run, on which tensors, in which order, is what the plan says (DESIGN.md,
// decision 0).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "runtime/exec/kv_cache.h"
#include "runtime/exec/token_choice.h"
#include "runtime/plan/plan_generated.h"

namespace bloom {

// One step's packed batch: T tokens from any sequences (prompt chunks and
// decode tokens alike) and the R token indices whose logits are wanted.
struct StepBatch {
  absl::Span<const int32_t> token_ids;       // T
  absl::Span<const int32_t> positions;       // T: position in its sequence
  absl::Span<const int32_t> sequence_slots;  // T: KV-cache slot of its sequence
  absl::Span<const int32_t> logit_rows;      // R <= T: indices into the T tokens
  // Pipeline stages after the first (plan.fbs, TensorRole HiddenIn): the
  // previous stage's hidden state, T rows in the HiddenIn tensor's dtype,
  // in host memory. Empty for a first stage, whose token_ids are read
  // instead (a later stage takes token_ids' size as T and ignores the ids).
  absl::Span<const uint8_t> hidden_in;
};

struct ExecutorOptions {
  // Where the weights' files are; empty means the directory recorded in the
  // plan at compile time.
  std::string checkpoint_dir;
  // Called after each weight is loaded (done, total), e.g. for a progress bar.
  std::function<void(size_t, size_t)> on_weight_loaded;
  // Memory tiering: read disk-tier weight units with O_DIRECT where the
  // filesystem allows it (false: always through the page cache, which is
  // what the fallback does where O_DIRECT is refused; tests use it to take
  // that path on purpose).
  bool direct_io = true;
};

// Memory tiering: what a backend moved into its weight slots (streamed
// weight units, PrefetchWeights), summed over steps.
struct WeightStreamStats {
  int64_t bytes = 0;        // the units' bytes copied or read into slots
  int64_t units = 0;        // completed unit fills
  double fill_seconds = 0;  // time the fills took (copy engine / reader thread busy)
  double wait_seconds = 0;  // time steps waited for them in AwaitWeights
};

// Steps in flight (pipeline parallelism, runtime/parallel/): how a step that
// BeginStep started is to end, and what FinishStep hands back for it.
enum class StepKind {
  kLogits,  // a plain Step: the R × vocab logits
  kGreedy,  // StepGreedy: R argmax ids
  kChoose,  // StepAndChoose: R chosen ids and their log-probabilities
};
struct StepOutcome {
  std::vector<float> logits;     // kLogits: R × vocab_size()
  std::vector<int32_t> ids;      // kGreedy, kChoose: R ids
  std::vector<float> logprobs;   // kChoose: R log-probabilities
};

class StepExecutor {
 public:
  virtual ~StepExecutor() = default;

  // Runs the plan once over `batch`. Every sequence slot must be active in
  // kv_cache() with positions reserved up to each token's position. Inputs
  // are checked (CheckStepBatch) and a bad one is an InvalidArgument error,
  // never a crash.
  virtual absl::Status Step(const StepBatch& batch) = 0;

  // The last step's logits in host memory: R rows of vocab_size() floats
  // (the plan keeps logits in F32 under every precision policy).
  virtual absl::Span<const float> logits() const = 0;
  // Pipeline stages before the last (TensorRole HiddenOut): the last step's
  // hidden state, T rows in the HiddenOut tensor's dtype, in host memory;
  // what the next stage's StepBatch::hidden_in takes. Empty otherwise, and
  // for a backend that does not run pipeline stages.
  virtual absl::Span<const uint8_t> hidden_out() const { return {}; }

  virtual const plan::Plan& plan() const = 0;
  // Slot and block bookkeeping of the paged KV cache (its pools live on the
  // executor's device).
  virtual KvCache& kv_cache() = 0;

  // The logits' width; 0 for a pipeline stage before the last (no logits).
  int64_t vocab_size() const;

  // For reports (--bench): what runs the plan, e.g. "cpu" or the GPU's
  // name, and the most memory the executor has held on that device so far
  // (host RSS for the CPU backend).
  virtual std::string device_name() const = 0;
  virtual int64_t peak_device_bytes() const = 0;
  // Weight streaming since the executor was created; zero for a plan (or a
  // backend) that streams nothing.
  virtual WeightStreamStats weight_stream_totals() const { return {}; }

  // A tensor-parallel rank's step (runtime/parallel/rank_group.h): runs `batch`
  // with the leader's block tables (max_sequences × max_blocks_per_sequence
  // entries) instead of this executor's own KvCache bookkeeping. The leader
  // has checked the batch. Unimplemented unless the backend supports
  // tensor parallelism.
  virtual absl::Status StepWithBlockTables(const StepBatch& batch, const int32_t* block_tables);

  // The greedy fast path: runs the step, then takes each logit row's argmax
  // on the device (first index on ties, as the generator's ArgMax) and
  // returns R token ids instead of R × vocab logits. logits() is empty
  // afterwards. Unimplemented unless has_greedy_step().
  virtual bool has_greedy_step() const { return false; }
  virtual absl::StatusOr<absl::Span<const int32_t>> StepGreedy(const StepBatch& batch);

  // Token choice on the device (runtime/exec/token_choice.h): runs the step,
  // then chooses each logit row's token as `choices.rows[r]` says (greedy or
  // sampled, with the CPU sampler's processors and warpers) and returns R
  // ids and log-probabilities instead of R × vocab logits. logits() is
  // empty afterwards. Unimplemented unless has_device_choice().
  virtual bool has_device_choice() const { return false; }
  virtual absl::StatusOr<ChosenTokens> StepAndChoose(const StepBatch& batch,
                                                     const TokenChoices& choices);
  // StepGreedy and StepAndChoose with another KvCache's block tables, as
  // StepWithBlockTables: a pipeline's last stage (runtime/parallel/) chooses
  // the tokens where its logits are. Unimplemented unless has_greedy_step()
  // / has_device_choice() and the backend runs ranks.
  virtual absl::StatusOr<absl::Span<const int32_t>> StepGreedyWithBlockTables(
      const StepBatch& batch, const int32_t* block_tables);
  virtual absl::StatusOr<ChosenTokens> StepAndChooseWithBlockTables(const StepBatch& batch,
                                                                    const TokenChoices& choices,
                                                                    const int32_t* block_tables);

  // Steps in flight. A pipeline of M stages (runtime/parallel/) keeps every
  // stage busy only when M steps are under way at once, each over its own
  // sequences; the engine (runtime/serve/engine.h) then begins up to
  // max_steps_in_flight() steps before it finishes the oldest.
  //   - BeginStep copies `batch` (and `choices`, for kChoose) and the block
  //     tables of the batch's slots before it returns; the caller may then
  //     reuse the spans and change the KV-cache bookkeeping of other slots,
  //     but not of this batch's slots until FinishStep has returned for it.
  //   - FinishStep waits for the oldest unfinished step and returns what
  //     its kind asks for; steps finish in the order they began.
  //   - An error from either ends the step (its sequences lost their place
  //     in the KV cache); after a failed FinishStep the executor may be
  //     unusable, as after a failed Step.
  // The defaults serve every executor that runs one step at a time:
  // BeginStep runs the step there and then, FinishStep hands its outcome back.
  virtual int max_steps_in_flight() const { return 1; }
  virtual absl::Status BeginStep(const StepBatch& batch, StepKind kind,
                                 const TokenChoices* choices = nullptr);
  virtual absl::StatusOr<StepOutcome> FinishStep();

 protected:
  // One step on its own, for an executor that keeps steps in flight (its
  // own BeginStep and FinishStep) and runs Step, StepGreedy and
  // StepAndChoose as a step begun and finished at once. Refused while
  // `in_flight` steps of the caller's are under way (FinishStep would hand
  // back the oldest of theirs), the error naming the call as `what`; else
  // `outcome` is emptied, so that a failed step leaves nothing of the one
  // before, and takes what FinishStep returns. Only this much is common:
  // which kinds a backend can end is its BeginStep's to say, and what each
  // call hands back out of `outcome` (logits(), ids, ids and
  // log-probabilities) stays with the call. Not for a one-at-a-time
  // executor, whose default BeginStep runs Step.
  absl::Status StepAlone(const StepBatch& batch, StepKind kind, const TokenChoices* choices,
                         size_t in_flight, absl::string_view what, StepOutcome& outcome);

 private:
  // The default BeginStep's outcomes (at most one for a one-at-a-time
  // executor), oldest first.
  std::deque<absl::StatusOr<StepOutcome>> finished_steps_;
};

// The per-step checks every backend makes before touching memory: T and R
// within the plan's limits, matching lengths, logit rows inside the batch
// (CheckStepShape, all a tensor-parallel follower rank checks: the leader
// has checked the rest against its KvCache), then active slots with
// reserved positions. Token ids are checked by the
// embedding kernel's dispatch, which knows the table's size.
absl::Status CheckStepShape(const plan::Plan& plan, const StepBatch& batch);
absl::Status CheckStepBatch(const plan::Plan& plan, const KvCache& kv_cache, const StepBatch& batch);
// StepBatch::hidden_in against the plan's pipeline stage: empty for a first
// stage, else exactly T rows of the HiddenIn tensor (part of CheckStepShape).
absl::Status CheckHiddenIn(const plan::Plan& plan, const StepBatch& batch);

// Index of the tensor with `role`; ValidatePlan guarantees there is one
// for every role the plan's pipeline stage has (plan_validator.h's
// StageHasRole: every role at pp_size 1).
uint32_t TensorWithRole(const plan::Plan& plan, plan::TensorRole role);
// The same for a role the stage may lack (TokenIds after the first stage,
// Logits before the last, the hidden state's roles): kNoTensor then.
inline constexpr uint32_t kNoTensor = 0xffffffffu;
uint32_t FindTensorWithRole(const plan::Plan& plan, plan::TensorRole role);

}  // namespace bloom
