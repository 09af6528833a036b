#include "runtime/cpu/cpu_executor.h"

#include <sys/resource.h>

#include <cstdlib>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "runtime/checkpoint/checkpoint.h"
#include "runtime/cpu/cpu_op_table.h"
#include "runtime/exec/instruction_loop.h"
#include "runtime/exec/plan_view.h"
#include "runtime/exec/weight_source.h"
#include "runtime/plan/quantized_weights.h"
#include "runtime/plan/plan_validator.h"
#include "runtime/support/dtype.h"
#include "runtime/support/status_macros.h"

namespace bloom {
namespace {

constexpr size_t kArenaAlignment = 64;

}  // namespace

absl::StatusOr<std::unique_ptr<CpuExecutor>> CpuExecutor::Create(LoadedPlan plan,
                                                                 const ExecutorOptions& options,
                                                                 Communicator* comm) {
  std::unique_ptr<CpuExecutor> executor(new CpuExecutor(std::move(plan)));
  const plan::Plan& p = executor->plan();
  // A plan for tp=N runs only in a group of N ranks, as the rank it was
  // compiled for: anything else would compute garbage or hang.
  if (comm == nullptr && p.tp_size() != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        executor->plan_.label(), ": rank ", p.tp_rank(), " of a tp=", p.tp_size(),
        " plan needs a group of ", p.tp_size(), " ranks (a thread per rank, or mpirun -np ",
        p.tp_size(), "), but was started alone"));
  }
  if (comm != nullptr && comm->size() != p.tp_size()) {
    return absl::FailedPreconditionError(absl::StrCat(
        executor->plan_.label(), ": the plan is for tp=", p.tp_size(), " but was started with ",
        comm->size(), " rank(s) (", comm->transport(), "); start exactly ", p.tp_size()));
  }
  if (comm != nullptr && comm->rank() != p.tp_rank()) {
    return absl::FailedPreconditionError(absl::StrCat(executor->plan_.label(),
                                                      ": the plan of rank ", p.tp_rank(),
                                                      " was given to rank ", comm->rank()));
  }
  if (comm != nullptr && comm->memory_space() != MemorySpace::kHost) {
    return absl::InvalidArgumentError(
        absl::StrCat("the CPU backend needs a host-memory communicator, not ", comm->transport()));
  }
  executor->comm_ = comm;
  const auto* tensors = p.tensors();
  // A pipeline stage has some of these only (StepExecutor's hidden state).
  executor->token_ids_ = FindTensorWithRole(p, plan::TensorRole::TokenIds);
  executor->positions_ = TensorWithRole(p, plan::TensorRole::Positions);
  executor->sequence_slots_ = TensorWithRole(p, plan::TensorRole::SequenceSlots);
  executor->logit_rows_ = FindTensorWithRole(p, plan::TensorRole::LogitRows);
  executor->logits_ = FindTensorWithRole(p, plan::TensorRole::Logits);
  executor->hidden_in_ = FindTensorWithRole(p, plan::TensorRole::HiddenIn);
  executor->hidden_out_ = FindTensorWithRole(p, plan::TensorRole::HiddenOut);

  const auto* kv = p.kv_cache();
  const auto* limits = p.limits();
  BLOOM_ASSIGN_OR_RETURN(
      KvCache cache, KvCache::Create(KvCacheShape{kv->num_layers(), kv->num_heads(), kv->head_dim(),
                                                  kv->block_size(), kv->num_blocks(),
                                                  limits->max_sequences(), limits->max_seq_len()}));
  executor->kv_cache_ = std::make_unique<KvCache>(std::move(cache));
  executor->tensor_data_.assign(tensors->size(), nullptr);
  BLOOM_RETURN_IF_ERROR(executor->AllocateArena());
  BLOOM_ASSIGN_OR_RETURN(executor->streamer_,
                         WeightStreamer::Create(executor->plan_, options.direct_io));
  // Before the weights: a plan the ops cannot run is refused without
  // reading the checkpoint.
  BLOOM_RETURN_IF_ERROR(executor->PrepareOps());
  BLOOM_RETURN_IF_ERROR(executor->LoadWeights(options));
  return executor;
}

absl::Status CpuExecutor::PrepareOps() {
  const plan::Plan& p = plan();
  const auto* instructions = p.instructions();
  ops_.reserve(instructions->size());
  for (size_t i = 0; i < instructions->size(); ++i) {
    absl::StatusOr<std::unique_ptr<CpuOp>> op = MakeCpuOp(p, *instructions->Get(i));
    if (!op.ok()) return InInstruction(p, i, op.status());
    ops_.push_back(*std::move(op));
  }
  return absl::OkStatus();
}

absl::Status CpuExecutor::AllocateArena() {
  const plan::Plan& p = plan();
  const size_t bytes = (p.arena_bytes() + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
  void* memory = std::aligned_alloc(kArenaAlignment, bytes == 0 ? kArenaAlignment : bytes);
  if (memory == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(plan_.label(), ": cannot allocate the ",
                                                     p.arena_bytes(), "-byte activation arena"));
  }
  // Zeroed so that rows beyond the current batch read as 0, never garbage.
  std::memset(memory, 0, bytes);
  arena_ = std::unique_ptr<uint8_t, void (*)(void*)>(static_cast<uint8_t*>(memory), std::free);
  const auto* tensors = p.tensors();
  for (uint32_t i = 0; i < tensors->size(); ++i) {
    const auto* tensor = tensors->Get(i);
    if (tensor->kind() != plan::TensorKind::Weight) {
      tensor_data_[i] = arena_.get() + tensor->arena_offset();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> CpuExecutor::ReadWeight(
    uint32_t index, const std::string& dir,
    std::map<std::string, std::unique_ptr<SafetensorsFile>>& files,
    QuantizedWeightMaker& maker) {
  const auto* tensor = plan().tensors()->Get(index);
  const auto* source = tensor->source();
  BLOOM_ASSIGN_OR_RETURN(StoredWeight stored, FindStoredWeight(*tensor, dir, files));
  // The CPU keeps float weights as float32; quantized values and zero
  // points are read by ReadQuantizedWeight.
  const DType storage = ToDType(tensor->dtype());
  if (!IsFloatingDType(storage)) {
    return absl::UnimplementedError(
        absl::StrCat(plan_.label(), ": weight '", tensor->name()->str(), "' is stored as ",
                     plan::EnumNameDType(tensor->dtype()), ", which the CPU backend cannot load"));
  }
  const std::vector<int64_t> expected(tensor->shape()->begin(), tensor->shape()->end());
  if (source->quantize() != nullptr) {
    // A quantized weight's scales: the quantizer's F16, widened exactly.
    BLOOM_ASSIGN_OR_RETURN(absl::Span<const uint8_t> bytes, maker.Make(*tensor, stored));
    std::vector<float> scales(bytes.size() / DTypeSize(storage));
    ConvertToFloat32(storage, bytes.data(), scales.data(), scales.size());
    return scales;
  }
  // Float32 holding exactly the values of the plan's storage dtype (a BF16
  // plan of an F32 checkpoint sees its weights rounded to bf16, as a GPU
  // holding bf16 would). A rank reads only its slice's bytes of the mapped
  // file.
  size_t elements = 1;
  for (int64_t d : expected) elements *= static_cast<size_t>(d);
  std::vector<float> values(elements);
  BLOOM_RETURN_IF_ERROR(stored.file->ReadSliceAsFloat32(*stored.tensor, source->slice_dim(),
                                                        source->slice_begin(), source->slice_end(),
                                                        absl::MakeSpan(values), stored.what));
  weight_bytes_read_ += static_cast<int64_t>(StorageBytes(stored.tensor->dtype, elements));
  RoundThroughDType(storage, values.data(), values.size());
  return values;
}

absl::StatusOr<std::vector<uint8_t>> CpuExecutor::ReadQuantizedWeight(
    uint32_t index, const std::string& dir,
    std::map<std::string, std::unique_ptr<SafetensorsFile>>& files,
    QuantizedWeightMaker& maker) {
  const auto* tensor = plan().tensors()->Get(index);
  BLOOM_ASSIGN_OR_RETURN(StoredWeight stored, FindStoredWeight(*tensor, dir, files));
  const size_t bytes = static_cast<size_t>(BytesOf(*tensor, tensor->shape()->Get(0)));
  if (tensor->source()->quantize() != nullptr) {
    BLOOM_ASSIGN_OR_RETURN(absl::Span<const uint8_t> made, maker.Make(*tensor, stored));
    return std::vector<uint8_t>(made.begin(), made.end());
  }
  // Stored quantized (--pack-weights): the file's bytes are the plan's.
  if (stored.file->generated() || stored.data.size() != bytes) {
    return absl::FailedPreconditionError(absl::StrCat(
        stored.what, " holds ", stored.data.size(), " bytes where the plan's ",
        plan::EnumNameDType(tensor->dtype()), " tensor needs ", bytes, "; recompile the plan"));
  }
  weight_bytes_read_ += static_cast<int64_t>(bytes);
  return std::vector<uint8_t>(stored.data.begin(), stored.data.end());
}

absl::Status CpuExecutor::LoadWeights(const ExecutorOptions& options) {
  const plan::Plan& p = plan();
  const std::string dir = WeightsDirectory(p, options.checkpoint_dir);
  // Each file the plan names is opened (mapped) once, and only those: a
  // rank of a pre-sharded plan opens its own rank<R>.safetensors alone, and
  // a rank of a sliced plan maps the checkpoint's shards but reads only its
  // slices' bytes.
  std::map<std::string, std::unique_ptr<SafetensorsFile>> files;
  const auto* tensors = p.tensors();
  // A weight of a Disk unit is read from the plan directory when streamed,
  // never from the checkpoint: it is not loaded here.
  auto loads = [&](uint32_t i) {
    return tensors->Get(i)->kind() == plan::TensorKind::Weight &&
           (!streamer_->Streams(i) || streamer_->FromHost(i));
  };
  size_t total = 0, done = 0;
  for (uint32_t i = 0; i < tensors->size(); ++i) total += loads(i);
  weight_storage_.resize(tensors->size());
  quantized_storage_.resize(tensors->size());
  QuantizedWeightMaker maker;
  for (uint32_t i = 0; i < tensors->size(); ++i) {
    if (tensors->Get(i)->kind() != plan::TensorKind::Weight) continue;
    if (streamer_->Streams(i)) tensor_data_[i] = streamer_->SlotAddress(i);
    if (!loads(i)) continue;
    if (IsQuantizedDType(tensors->Get(i)->dtype())) {
      BLOOM_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes,
                             ReadQuantizedWeight(i, dir, files, maker));
      if (streamer_->Streams(i)) {
        BLOOM_RETURN_IF_ERROR(streamer_->PackHostTensorBytes(i, bytes));
      } else {
        quantized_storage_[i] = std::move(bytes);
        resident_weight_bytes_ += static_cast<int64_t>(quantized_storage_[i].size());
        tensor_data_[i] = quantized_storage_[i].data();
      }
      if (options.on_weight_loaded) options.on_weight_loaded(++done, total);
      continue;
    }
    BLOOM_ASSIGN_OR_RETURN(std::vector<float> values, ReadWeight(i, dir, files, maker));
    if (streamer_->Streams(i)) {
      // A Host unit's tensor goes into the unit's packed copy, in its
      // storage dtype; the float32 values are exact there, so the slot holds
      // the same values a resident weight would.
      BLOOM_RETURN_IF_ERROR(streamer_->PackHostTensor(i, values));
    } else {
      weight_storage_[i] = std::move(values);
      resident_weight_bytes_ += static_cast<int64_t>(weight_storage_[i].size() * sizeof(float));
      tensor_data_[i] = reinterpret_cast<uint8_t*>(weight_storage_[i].data());
    }
    if (options.on_weight_loaded) options.on_weight_loaded(++done, total);
  }
  weight_bytes_read_ += maker.source_bytes_read();
  return absl::OkStatus();
}

plan::DType CpuExecutor::MemoryDType(uint32_t index) const {
  const plan::Tensor* tensor = plan().tensors()->Get(index);
  // Resident float weights are kept as float32, quantized ones as stored.
  if (tensor->kind() == plan::TensorKind::Weight && !streamer_->Streams(index) &&
      !IsQuantizedDType(tensor->dtype())) {
    return plan::DType::F32;
  }
  return tensor->dtype();
}

absl::Status CpuExecutor::Step(const StepBatch& batch) {
  BLOOM_RETURN_IF_ERROR(CheckStepBatch(plan(), *kv_cache_, batch));
  return RunInstructions(batch, nullptr);
}

absl::Status CpuExecutor::StepWithBlockTables(const StepBatch& batch, const int32_t* block_tables) {
  if (block_tables == nullptr) {
    return absl::InvalidArgumentError("StepWithBlockTables without block tables");
  }
  BLOOM_RETURN_IF_ERROR(CheckStepShape(plan(), batch));
  return RunInstructions(batch, block_tables);
}

absl::Status CpuExecutor::RunInstructions(const StepBatch& batch, const int32_t* block_tables) {
  step_rows_ = StepRows{static_cast<int64_t>(batch.token_ids.size()),
                        static_cast<int64_t>(batch.logit_rows.size())};
  auto write_input = [&](uint32_t index, absl::Span<const int32_t> values) {
    // A role this pipeline stage lacks; or no values (a step without logit
    // rows), whose span may hold a null pointer memcpy must not see.
    if (index == kNoTensor || values.empty()) return;
    std::memcpy(tensor_data_[index], values.data(), values.size() * sizeof(int32_t));
  };
  write_input(token_ids_, batch.token_ids);
  write_input(positions_, batch.positions);
  write_input(sequence_slots_, batch.sequence_slots);
  write_input(logit_rows_, batch.logit_rows);
  if (hidden_in_ != kNoTensor && !batch.hidden_in.empty()) {
    std::memcpy(tensor_data_[hidden_in_], batch.hidden_in.data(), batch.hidden_in.size());
  }

  const auto* tensors = plan().tensors();
  CpuOpArgs args;
  args.kv_cache = kv_cache_.get();
  args.block_tables = block_tables;
  args.comm = comm_;
  auto resolve = [&](uint32_t id) {
    const plan::Tensor* tensor = tensors->Get(id);
    return ResolvedOperand{tensor, tensor_data_[id], RowsAt(*tensor, step_rows_), MemoryDType(id)};
  };
  streamer_->BeginStep();
  const absl::Status status = ForEachInstruction(
      plan(), [&](size_t i, const plan::Instruction& instruction) -> absl::Status {
        CpuOp* op = ops_[i].get();
        if (op == nullptr) return RunStreaming(instruction);
        args.operands.clear();
        args.results.clear();
        for (uint32_t id : *instruction.operands()) args.operands.push_back(resolve(id));
        for (uint32_t id : *instruction.results()) args.results.push_back(resolve(id));
        BLOOM_RETURN_IF_ERROR(op->Run(args, scratch_));
        for (size_t r = 0; r < args.results.size(); ++r) {
          BLOOM_RETURN_IF_ERROR(scratch_.Narrow(args.results[r], r));
        }
        return absl::OkStatus();
      });
  // Even after a failure: no fill may still be writing a slot when the
  // step returns.
  absl::Status streamed = streamer_->EndStep();
  return status.ok() ? streamed : status;
}

absl::Status CpuExecutor::RunStreaming(const plan::Instruction& instruction) {
  if (instruction.kernel_type() == plan::Kernel::PrefetchWeights) {
    return streamer_->Prefetch(instruction.kernel_as_PrefetchWeights()->unit());
  }
  if (instruction.kernel_type() == plan::Kernel::AwaitWeights) {
    return streamer_->Await(instruction.kernel_as_AwaitWeights()->unit());
  }
  // The op table gives every other kernel an op.
  return absl::InternalError(
      absl::StrCat("no CPU op for ", plan::EnumNameKernel(instruction.kernel_type())));
}

absl::Span<const uint8_t> CpuExecutor::hidden_out() const {
  if (hidden_out_ == kNoTensor) return {};
  const plan::Tensor& tensor = *plan().tensors()->Get(hidden_out_);
  return absl::MakeConstSpan(tensor_data_[hidden_out_],
                             static_cast<size_t>(step_rows_.tokens * TensorRowBytes(tensor)));
}

absl::Span<const float> CpuExecutor::logits() const {
  if (logits_ == kNoTensor) return {};
  return absl::MakeConstSpan(reinterpret_cast<const float*>(tensor_data_[logits_]),
                             static_cast<size_t>(step_rows_.logit_rows * vocab_size()));
}

absl::StatusOr<TensorView> CpuExecutor::FindTensor(absl::string_view name) const {
  const auto* tensors = plan().tensors();
  for (uint32_t i = 0; i < tensors->size(); ++i) {
    if (absl::string_view(tensors->Get(i)->name()->c_str(), tensors->Get(i)->name()->size()) ==
        name) {
      return TensorView{tensors->Get(i), tensor_data_[i], RowsAt(*tensors->Get(i), step_rows_),
                        MemoryDType(i)};
    }
  }
  return absl::NotFoundError(absl::StrCat(plan_.label(), ": no tensor named '", name, "'"));
}

int64_t CpuExecutor::peak_device_bytes() const {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace bloom
