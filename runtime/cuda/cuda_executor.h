// The CUDA backend's StepExecutor (DESIGN.md, decisions 1 and 8): the plan's
// weights in device memory in their storage dtypes, one device activation
// arena laid out as the plan says, the paged KV cache's pools on the device
// (block tables kept on the host by KvCache and uploaded per step), and one
// stream on which a step's kernels run without host synchronisation until
// its results are copied back. Decode-only steps are captured once per batch
// bucket (1, 2, 4, ... padded) as CUDA graphs and replayed.
//
// Like the CPU executor it knows no model: it walks the plan's instruction
// list, running each through its op (runtime/cuda/cuda_op_table.h, one op
// file per kernel in runtime/cuda/ops/), and PrefetchWeights/AwaitWeights
// through its weight streamer.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "runtime/comm/communicator.h"
#include "runtime/cuda/cuda_executor_options.h"
#include "runtime/cuda/cuda_op.h"
#include "runtime/cuda/cuda_op_table.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/cuda/device_weight_streamer.h"
#include "runtime/cuda/quantized_weights.h"
#include "runtime/cuda/weight_upload.h"
#include "runtime/exec/executor.h"
#include "runtime/plan/plan_loader.h"

namespace bloom {

// Where a rank runs and how it talks to the others; the defaults are a
// tp=1 plan on GPU 0.
struct CudaRankOptions {
  int device = 0;
  // The rank's host-memory communicator (threads or MPI; not owned, must
  // outlive the executor): NCCL's bootstrap, or the host-staged transport.
  // Required, of exactly tp_size ranks, for a plan with tp_size > 1.
  Communicator* host_comm = nullptr;
  CudaCollectives collectives = CudaCollectives::kNccl;
  // Ranks whose logits nobody reads (all but the leader) skip their copy to
  // the host; logits() is then empty.
  bool copy_logits = true;
  absl::Duration collective_timeout = absl::Minutes(5);
};

class CudaExecutor : public StepExecutor {
 public:
  // Fails with FailedPrecondition when no CUDA GPU is usable, with
  // ResourceExhausted (naming the allocation and its size) when device
  // memory runs out, as the CPU executor does for checkpoint problems, and
  // with InvalidArgument for `cuda` options out of range.
  static absl::StatusOr<std::unique_ptr<CudaExecutor>> Create(LoadedPlan plan,
                                                              const ExecutorOptions& options,
                                                              const CudaExecutorOptions& cuda = {},
                                                              const CudaRankOptions& rank = {});
  ~CudaExecutor() override;

  absl::Status Step(const StepBatch& batch) override;
  // A tensor-parallel rank's step with the leader's block tables.
  absl::Status StepWithBlockTables(const StepBatch& batch, const int32_t* block_tables) override;
  // The last Step's logits (R rows × vocab), in pinned host memory. Empty
  // after StepGreedy.
  absl::Span<const float> logits() const override;
  // A pipeline stage before the last: the last step's hidden rows, copied
  // to pinned host memory with the step.
  absl::Span<const uint8_t> hidden_out() const override;
  const plan::Plan& plan() const override { return plan_.plan(); }
  KvCache& kv_cache() override { return *kv_cache_; }
  std::string device_name() const override { return device_name_; }
  // Bytes of device memory this executor has allocated (weights, arena, KV
  // cache, step inputs, scratch and cuBLASLt workspace); the CUDA context's
  // own memory is not counted.
  int64_t peak_device_bytes() const override { return allocated_bytes_; }
  // Memory tiering: the streamed units' bytes copied to their slots so far,
  // and the copy stream's time on them (timed around each copy).
  WeightStreamStats weight_stream_totals() const override { return streamer_->totals(); }
  // Pinned host memory holding the host-resident weight units.
  int64_t host_weight_bytes() const { return streamer_->host_bytes(); }

  // The greedy fast path: runs the step like Step, then takes each logit
  // row's argmax on the GPU (first index on ties, as the CPU generator's
  // ArgMax) and copies back R ints instead of R × vocab floats.
  bool has_greedy_step() const override { return true; }
  absl::StatusOr<absl::Span<const int32_t>> StepGreedy(const StepBatch& batch) override;
  // Token choice on the GPU (kernels/cuda/choose_tokens.cuh): the step, then
  // every row's processors, warpers and draw in place on the device logits;
  // R ids and log-probabilities come back.
  bool has_device_choice() const override { return true; }
  absl::StatusOr<ChosenTokens> StepAndChoose(const StepBatch& batch,
                                             const TokenChoices& choices) override;
  // Both with the leader's block tables (a pipeline's last stage).
  absl::StatusOr<absl::Span<const int32_t>> StepGreedyWithBlockTables(
      const StepBatch& batch, const int32_t* block_tables) override;
  absl::StatusOr<ChosenTokens> StepAndChooseWithBlockTables(const StepBatch& batch,
                                                            const TokenChoices& choices,
                                                            const int32_t* block_tables) override;

  // A tensor's current contents as float32 (an activation after the last
  // step, with its current row count, or a weight), for dumps and diffs.
  absl::StatusOr<std::vector<float>> ReadTensor(absl::string_view name);

  // CUDA graphs for decode-only steps (on by default); off runs every step
  // eagerly, e.g. to compare the two.
  void set_use_graphs(bool use) { use_graphs_ = use; }
  // CudaExecutorOptions::profile: a per-instruction time breakdown
  // (runtime/cuda/step_profile.h) of the first step of each decode bucket
  // that would replay its graph: that step runs eagerly with events instead
  // and the table goes to stderr.
  int graphs_captured() const { return static_cast<int>(graphs_.size()); }

 private:
  // The device step-input buffer, in int32 units. Its prefix up to `end`
  // is uploaded in one copy per step.
  struct InputLayout {
    int64_t tokens, positions, slots, logit_rows, decode_tokens, tiles, block_tables, end;
    InputLayout(int64_t max_tokens, int64_t max_logit_rows, int64_t block_table_entries);
  };
  CudaExecutor(LoadedPlan plan, const CudaExecutorOptions& cuda, const CudaRankOptions& rank)
      : plan_(std::move(plan)), options_(cuda), rank_(rank) {}
  absl::Status Initialize(const ExecutorOptions& options);
  // `bytes` of device memory into `buffer`, counted in allocated_bytes_.
  absl::Status Allocate(DeviceBuffer& buffer, size_t bytes, const std::string& what);
  // The weights' allocation (the resident ones, 256-byte aligned, at
  // `weight_offsets`), the arena, the KV pools, the step inputs and the
  // results' buffers.
  absl::Status AllocateMemory(std::vector<size_t>& weight_offsets);
  // Where each plan tensor lives (tensors_); `weights` gets the resident
  // weights' destinations for the loader.
  absl::Status PlaceTensors(const std::vector<size_t>& weight_offsets,
                            std::vector<WeightDestination>& weights);
  // Bytes of one layer's K (or V) pool.
  size_t KvPoolBytes() const;
  // One device view per KV-cache layer.
  std::vector<cuda::PagedKvView> KvLayerViews() const;
  // The tensor-parallel group's device communicator, for tp_size > 1.
  absl::Status JoinGroup();
  // What a step hands back: the logits (when the rank copies them), each
  // row's argmax, or the tokens `choices` asks for.
  enum class StepOutput { kLogits, kArgMax, kChosen };
  // `block_tables`: the leader's (a follower rank), or null for kv_cache()'s.
  absl::Status RunStep(const StepBatch& batch, StepOutput output, const int32_t* block_tables,
                       const TokenChoices* choices = nullptr);
  // Uploads `choices` (R rows) for the choice kernel, growing the buffer of
  // penalized ids when a step needs more than it holds.
  absl::Status UploadChoices(const TokenChoices& choices);
  // With `events` (one per instruction plus one), each is recorded before
  // its instruction and the last after them all.
  absl::Status RunInstructions(const StepShape& shape,
                               const std::vector<cudaEvent_t>* events = nullptr);
  absl::Status ProfileStep(const StepShape& shape, const StepBatch& batch);

  LoadedPlan plan_;
  CudaExecutorOptions options_;
  CudaRankOptions rank_;
  std::unique_ptr<Communicator> device_comm_;  // tp_size > 1 only
  std::string device_name_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<KvCache> kv_cache_;
  std::unique_ptr<DeviceWeightStreamer> streamer_;
  std::unique_ptr<QuantizedDeviceLayout> quantized_;

  DeviceBuffer weights_, arena_, kv_pools_, inputs_, scratch_, argmax_;
  PinnedBuffer host_inputs_, host_logits_, host_argmax_;
  // Token choice: the rows' settings, the penalized ids and the chosen
  // tokens' log-probabilities (the ids share argmax_), each with a pinned
  // mirror.
  DeviceBuffer choice_rows_, penalized_ids_, logprobs_;
  PinnedBuffer host_choice_rows_, host_penalized_ids_, host_logprobs_;
  int64_t allocated_bytes_ = 0;
  std::vector<DeviceTensor> tensors_;
  std::vector<cuda::PagedKvView> kv_layers_;
  // After the memory its ops read (destroyed first); their own resources
  // (slopes, converted weights) are inside.
  std::unique_ptr<CudaOpTable> ops_;
  int32_t decode_capacity_ = 0;  // lone decode tokens a step's decode list holds
  std::unique_ptr<InputLayout> layout_;
  int64_t max_token_id_ = -1;  // ids must be below this (the embedding tables' vocabulary)

  // Decode graphs by (padded T, padded R).
  std::map<std::pair<int64_t, int64_t>, cudaGraphExec_t> graphs_;
  bool use_graphs_ = true;
  std::set<std::pair<int64_t, int64_t>> profiled_;  // buckets already profiled
  // Eager (prefill) steps run so far per (tokens, logit rows): the profile
  // takes the second of each shape, after the first has loaded its kernels
  // and settled cuBLASLt's choices.
  std::map<std::pair<int64_t, int64_t>, int> eager_runs_;

  // kNoTensor where the plan's pipeline stage lacks the role.
  uint32_t logits_tensor_ = kNoTensor, hidden_in_tensor_ = kNoTensor, hidden_out_tensor_ = kNoTensor;
  // Pipeline stages: the hidden state in (device, and its pinned staging)
  // and out (pinned, copied back with every step).
  DeviceBuffer hidden_in_;
  PinnedBuffer host_hidden_in_, host_hidden_out_;
  int64_t num_tokens_ = 0, num_logit_rows_ = 0;  // the last step's real T and R
  bool logits_valid_ = false;
};

// The factory bloom-run calls for --backend=cuda.
absl::StatusOr<std::unique_ptr<StepExecutor>> CreateCudaExecutor(
    LoadedPlan plan, const ExecutorOptions& options, const CudaExecutorOptions& cuda = {});

}  // namespace bloom
