// The CPU reference backend's executor (DESIGN.md, decision 8): weights in
// host memory as float32 (holding exactly the values of their storage
// dtype), one activation arena laid out as the plan says, the KV cache's
// pools in host memory, and one CpuOp per instruction (its op table,
// cpu_op_table.h), which runs the fp32 kernels of kernels/cpu and emulates
// F16/BF16 storage by rounding. The executor keeps the memory, the step's
// inputs and the weight streamer; the ops keep what each instruction needs.
//
// Tensor parallelism: a rank's executor runs its own plan (rank tp_rank of
// tp_size) with a Communicator over the group, loads only its slice of each
// sliced weight, and can take its slots' block tables from the group's
// leader (StepWithBlockTables) so that one KvCache's bookkeeping drives every
// rank's pools.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/checkpoint/checkpoint.h"
#include "runtime/checkpoint/safetensors.h"
#include "runtime/comm/communicator.h"
#include "runtime/cpu/cpu_op.h"
#include "runtime/exec/executor.h"
#include "runtime/exec/plan_view.h"
#include "runtime/exec/quantized_weight_maker.h"
#include "runtime/exec/weight_streamer.h"
#include "runtime/plan/plan_loader.h"

namespace bloom {

// A named tensor's memory after a step, for dumps and tests.
struct TensorView {
  const plan::Tensor* tensor = nullptr;
  const void* data = nullptr;
  int64_t rows = 0;  // the current row count (T, R, or the static first dim)
  // How `data` is stored: F32 for resident weights (the CPU keeps them
  // widened), the storage dtype for activations and streamed weights (whose
  // data is their slot, holding whatever unit was last streamed into it).
  plan::DType memory_dtype = plan::DType::F32;
};

class CpuExecutor : public StepExecutor {
 public:
  // `comm` (not owned; must outlive the executor) is the tensor-parallel
  // group; a plan with tp_size > 1 needs one of exactly tp_size ranks whose
  // rank is the plan's tp_rank, and is refused otherwise.
  static absl::StatusOr<std::unique_ptr<CpuExecutor>> Create(LoadedPlan plan,
                                                             const ExecutorOptions& options,
                                                             Communicator* comm = nullptr);

  absl::Status Step(const StepBatch& batch) override;
  // Step for a rank whose slots and blocks are kept by another KvCache (the
  // group leader's): `block_tables` is that cache's block_tables(), of the
  // same [max_sequences, max_blocks_per_sequence] shape as this executor's,
  // and the caller has checked `batch` against that cache (CheckStepBatch).
  // Only the batch's sizes are checked here.
  absl::Status StepWithBlockTables(const StepBatch& batch, const int32_t* block_tables) override;
  absl::Span<const float> logits() const override;
  absl::Span<const uint8_t> hidden_out() const override;
  const plan::Plan& plan() const override { return plan_.plan(); }
  KvCache& kv_cache() override { return *kv_cache_; }
  std::string device_name() const override { return "cpu"; }
  // The process's peak resident set size.
  int64_t peak_device_bytes() const override;

  // Bytes of weight data read from the weight files while loading: the
  // slices' bytes for a sliced plan, never whole tensors it slices.
  int64_t weight_bytes_read() const { return weight_bytes_read_; }
  // Memory held for weights: resident tensors (float32), the packed copies of
  // Host units, and the weight slots. Disk units hold nothing beyond slots.
  int64_t resident_weight_bytes() const { return resident_weight_bytes_; }
  int64_t host_unit_bytes() const { return streamer_->host_bytes(); }
  int64_t weight_slot_bytes() const { return streamer_->slot_bytes(); }
  // Whether disk units are read with O_DIRECT (see WeightStreamer).
  bool disk_reads_direct() const { return streamer_->direct_reads(); }
  // Streaming counters of the last step, and since creation.
  const WeightStreamStats& last_step_stream_stats() const { return streamer_->last_step(); }
  WeightStreamStats weight_stream_totals() const override { return streamer_->totals(); }

  // Finds an activation or weight by its graph name (e.g. "h.0.attn_norm").
  absl::StatusOr<TensorView> FindTensor(absl::string_view name) const;

 private:
  explicit CpuExecutor(LoadedPlan plan) : plan_(std::move(plan)) {}
  absl::Status LoadWeights(const ExecutorOptions& options);
  // Makes ops_ from the op table, one per instruction.
  absl::Status PrepareOps();
  absl::Status RunInstructions(const StepBatch& batch, const int32_t* block_tables);
  // PrefetchWeights and AwaitWeights: the weight streamer's, not an op's.
  absl::Status RunStreaming(const plan::Instruction& instruction);
  absl::Status AllocateArena();
  plan::DType MemoryDType(uint32_t index) const;
  // Reads float weight `index` from its WeightSource as float32 holding
  // exactly the values of its storage dtype (opening its file once in
  // `files`; the scales of a weight quantized at load come from `maker`).
  absl::StatusOr<std::vector<float>> ReadWeight(
      uint32_t index, const std::string& dir,
      std::map<std::string, std::unique_ptr<SafetensorsFile>>& files,
      QuantizedWeightMaker& maker);
  // Reads the quantized values or zero points `index` (I8 or I4) as their
  // stored bytes: made at load by `maker`, or as packed.
  absl::StatusOr<std::vector<uint8_t>> ReadQuantizedWeight(
      uint32_t index, const std::string& dir,
      std::map<std::string, std::unique_ptr<SafetensorsFile>>& files,
      QuantizedWeightMaker& maker);

  LoadedPlan plan_;
  // Per instruction: its op, or null for a streaming instruction.
  std::vector<std::unique_ptr<CpuOp>> ops_;
  PrecisionScratch scratch_;
  Communicator* comm_ = nullptr;
  std::unique_ptr<KvCache> kv_cache_;
  std::unique_ptr<WeightStreamer> streamer_;
  // Per tensor index: its memory (weights in weight_storage_, the rest in
  // the arena).
  std::vector<uint8_t*> tensor_data_;
  std::vector<std::vector<float>> weight_storage_;
  // Quantized values and zero points, kept as their bytes (the dequantizing
  // ops read them so; kernels/cpu/quantized_linear.h).
  std::vector<std::vector<uint8_t>> quantized_storage_;
  std::unique_ptr<uint8_t, void (*)(void*)> arena_{nullptr, nullptr};
  // Indices of the step interface's tensors.
  // kNoTensor for a role the plan's pipeline stage lacks.
  uint32_t token_ids_ = 0, positions_ = 0, sequence_slots_ = 0, logit_rows_ = 0, logits_ = 0;
  uint32_t hidden_in_ = kNoTensor, hidden_out_ = kNoTensor;
  int64_t weight_bytes_read_ = 0;
  int64_t resident_weight_bytes_ = 0;
  StepRows step_rows_;  // T and R of the last step
};

}  // namespace bloom
