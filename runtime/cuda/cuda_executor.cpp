#include "runtime/cuda/cuda_executor.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/argmax.cuh"
#include "kernels/cuda/attention_prefill.cuh"
#include "kernels/cuda/choose_tokens.cuh"
#include "runtime/cuda/attention_work.h"
#include "runtime/cuda/cuda_status.h"
#include "runtime/cuda/device_weight_streamer.h"
#include "runtime/cuda/host_staged_communicator.h"
#include "runtime/cuda/quantized_weights.h"
#include "runtime/cuda/step_profile.h"
#include "runtime/cuda/weight_upload.h"
#include "runtime/plan/plan_validator.h"
#include "runtime/exec/instruction_loop.h"
#include "runtime/exec/plan_view.h"
#include "runtime/exec/weight_source.h"
#include "runtime/support/dtype.h"
#include "runtime/support/status_macros.h"
#if BLOOM_HAVE_NCCL
#include "runtime/comm/nccl_communicator.h"
#endif

namespace bloom {
namespace {

int64_t NextPowerOfTwo(int64_t n) {
  int64_t p = 1;
  while (p < n) p *= 2;
  return p;
}

// Whether the CUDA kernels can read tensors of `dtype` (kernels/cuda/
// cuda_dtype.cuh): the floats and int32 ids. Anything else (the quantized
// dtypes) is refused here rather than read as float by a kernel.
bool CudaReads(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16 ||
         dtype == DType::kI32 || dtype == DType::kI8 || dtype == DType::kI4;
}

// A progress bar on stderr, drawn only when stderr is a terminal.
void DrawProgress(size_t done, size_t total) {
  constexpr int kWidth = 40;
  const int filled = total == 0 ? kWidth : static_cast<int>(kWidth * done / total);
  std::fprintf(stderr, "\rloading weights to the GPU [%.*s%*s] %zu/%zu", filled,
               "========================================", kWidth - filled, "", done, total);
  if (done == total) std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace

CudaExecutor::InputLayout::InputLayout(int64_t max_tokens, int64_t max_logit_rows,
                                       int64_t block_table_entries) {
  tokens = 0;
  positions = tokens + max_tokens;
  slots = positions + max_tokens;
  logit_rows = slots + max_tokens;
  decode_tokens = logit_rows + max_logit_rows;
  tiles = decode_tokens + max_tokens;  // AttentionTile is 4 int32s
  block_tables = tiles + 4 * max_tokens;
  end = block_tables + block_table_entries;
}

absl::StatusOr<std::unique_ptr<StepExecutor>> CreateCudaExecutor(LoadedPlan plan,
                                                                 const ExecutorOptions& options,
                                                                 const CudaExecutorOptions& cuda) {
  BLOOM_ASSIGN_OR_RETURN(std::unique_ptr<CudaExecutor> executor,
                         CudaExecutor::Create(std::move(plan), options, cuda));
  return std::unique_ptr<StepExecutor>(std::move(executor));
}

absl::StatusOr<std::unique_ptr<CudaExecutor>> CudaExecutor::Create(LoadedPlan plan,
                                                                   const ExecutorOptions& options,
                                                                   const CudaExecutorOptions& cuda,
                                                                   const CudaRankOptions& rank) {
  BLOOM_RETURN_IF_ERROR(ValidateCudaExecutorOptions(cuda));
  int devices = 0;
  const cudaError_t error = cudaGetDeviceCount(&devices);
  if (error != cudaSuccess || devices == 0) {
    cudaGetLastError();
    return absl::FailedPreconditionError(absl::StrCat(
        "no CUDA GPU is usable (", error == cudaSuccess ? "none found" : cudaGetErrorString(error),
        "); use the CPU backend"));
  }
  if (rank.device < 0 || rank.device >= devices) {
    return absl::FailedPreconditionError(
        absl::StrCat(plan.label(), ": GPU ", rank.device, " was asked for; ", devices, " visible"));
  }
  std::unique_ptr<CudaExecutor> executor(new CudaExecutor(std::move(plan), cuda, rank));
  BLOOM_RETURN_IF_ERROR(executor->Initialize(options));
  return executor;
}

CudaExecutor::~CudaExecutor() {
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  for (auto& [key, graph] : graphs_) cudaGraphExecDestroy(graph);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

absl::Status CudaExecutor::Initialize(const ExecutorOptions& options) {
  const plan::Plan& p = plan();
  const auto* limits = p.limits();
  const auto* kv = p.kv_cache();
  BLOOM_CUDA_RETURN_IF_ERROR(cudaSetDevice(rank_.device), "cudaSetDevice");
  cudaDeviceProp properties{};
  BLOOM_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&properties, rank_.device),
                             "cudaGetDeviceProperties");
  device_name_ = properties.name;
  BLOOM_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking),
                             "cudaStreamCreate");
  // First, before anything that can fail on one rank alone: the group's
  // communicator is a collective every rank must reach.
  BLOOM_RETURN_IF_ERROR(JoinGroup());
  // Streamed weights (--bloom-tier-memory): their slots and packed host
  // units, and a fixed device address for each streamed tensor.
  BLOOM_ASSIGN_OR_RETURN(streamer_, DeviceWeightStreamer::Create(plan_));
  allocated_bytes_ += streamer_->device_bytes();
  quantized_ = std::make_unique<QuantizedDeviceLayout>(
      plan_.plan(), [this](uint32_t tensor) { return streamer_->Streams(tensor); });

  BLOOM_ASSIGN_OR_RETURN(
      KvCache cache, KvCache::Create(KvCacheShape{kv->num_layers(), kv->num_heads(), kv->head_dim(),
                                                  kv->block_size(), kv->num_blocks(),
                                                  limits->max_sequences(), limits->max_seq_len()},
                                     KvPools::kExternal));
  kv_cache_ = std::make_unique<KvCache>(std::move(cache));

  std::vector<size_t> weight_offsets;
  BLOOM_RETURN_IF_ERROR(AllocateMemory(weight_offsets));
  std::vector<WeightDestination> weights;
  BLOOM_RETURN_IF_ERROR(PlaceTensors(weight_offsets, weights));

  // Token ids are checked on the host against the embedding tables that
  // read them (the kernel itself cannot report an error).
  const uint32_t token_ids = FindTensorWithRole(p, plan::TensorRole::TokenIds);
  for (const plan::Instruction* instruction : *p.instructions()) {
    if (const auto* e = instruction->kernel_as_EmbeddingGather();
        e != nullptr && instruction->operands()->Get(0) == token_ids) {
      const int64_t rows = p.tensors()->Get(instruction->operands()->Get(1))->shape()->Get(0);
      const int64_t vocab = e->vocab_size() > 0 ? e->vocab_size() : rows;
      max_token_id_ = max_token_id_ < 0 ? vocab : std::min(max_token_id_, vocab);
    }
  }

  // The ops, checked against what the kernels take before the weights
  // load; then the scratch they share.
  kv_layers_ = KvLayerViews();
  decode_capacity_ = DecodeCapacity(p);
  BLOOM_ASSIGN_OR_RETURN(
      ops_, CudaOpTable::Create(
                p, plan_.label(), tensors_, kv_layers_, device_comm_.get(),
                [this](uint32_t tensor) { return streamer_->Streams(tensor); }, options_.gemm,
                options_.decode_attention, quantized_.get()));
  BLOOM_RETURN_IF_ERROR(Allocate(scratch_, ops_->ScratchBytes(),
                                 "scratch (GEMM workspace, conversions, split-K partials)"));

  const std::string dir = WeightsDirectory(p, options.checkpoint_dir);
  std::function<void(size_t, size_t)> progress = options.on_weight_loaded;
  if (!progress && isatty(STDERR_FILENO)) progress = DrawProgress;
  BLOOM_RETURN_IF_ERROR(
      LoadWeights(p, dir, weights, streamer_->HostDestinations(), stream_, progress,
                  quantized_.get()));

  // What the ops make from the loaded weights (converted copies) and
  // their constants' device copies.
  BLOOM_RETURN_IF_ERROR(
      ops_->Prepare(scratch_.data(), stream_,
                    [this](size_t bytes, const std::string& what) -> absl::StatusOr<DeviceBuffer> {
                      DeviceBuffer buffer;
                      BLOOM_RETURN_IF_ERROR(Allocate(buffer, bytes, what));
                      return buffer;
                    }));
  BLOOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), "executor initialisation");
  return absl::OkStatus();
}

absl::Status CudaExecutor::Allocate(DeviceBuffer& buffer, size_t bytes, const std::string& what) {
  BLOOM_ASSIGN_OR_RETURN(buffer, DeviceBuffer::Allocate(bytes, what));
  allocated_bytes_ += static_cast<int64_t>(bytes);
  return absl::OkStatus();
}

absl::Status CudaExecutor::AllocateMemory(std::vector<size_t>& weight_offsets) {
  const plan::Plan& p = plan();
  const auto* tensors = p.tensors();
  const auto* limits = p.limits();
  const auto* kv = p.kv_cache();
  // Weights: one allocation, each tensor 256-byte aligned (cuBLASLt's
  // fastest kernels want 16 bytes at least).
  weight_offsets.assign(tensors->size(), 0);
  size_t weight_bytes = 0;
  for (uint32_t i = 0; i < tensors->size(); ++i) {
    const auto* t = tensors->Get(i);
    if (t->kind() != plan::TensorKind::Weight || streamer_->Streams(i)) continue;
    weight_offsets[i] = weight_bytes;
    weight_bytes += DeviceAlignUp(quantized_->DeviceBytes(p, i));
  }
  BLOOM_RETURN_IF_ERROR(
      Allocate(weights_, weight_bytes, absl::StrCat("the weights of ", plan_.label())));
  BLOOM_RETURN_IF_ERROR(Allocate(arena_, DeviceAlignUp(std::max<uint64_t>(p.arena_bytes(), 1)),
                                 "the activation arena"));
  BLOOM_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(arena_.data(), 0, arena_.size(), stream_),
                             "arena memset");
  BLOOM_RETURN_IF_ERROR(
      Allocate(kv_pools_, 2 * DeviceAlignUp(KvPoolBytes()) * kv->num_layers(),
               absl::StrCat("the KV cache (", kv->num_layers(), " layers x ", kv->num_blocks(),
                            " blocks of ", kv->block_size(), " positions, K and V)")));
  BLOOM_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(kv_pools_.data(), 0, kv_pools_.size(), stream_),
                             "KV cache memset");

  const int64_t table_entries =
      static_cast<int64_t>(limits->max_sequences()) * kv_cache_->max_blocks_per_sequence();
  layout_ = std::make_unique<InputLayout>(limits->max_batch_tokens(), limits->max_logit_rows(),
                                          table_entries);
  BLOOM_RETURN_IF_ERROR(Allocate(inputs_, layout_->end * sizeof(int32_t), "the step inputs"));
  BLOOM_ASSIGN_OR_RETURN(host_inputs_,
                         PinnedBuffer::Allocate(layout_->end * sizeof(int32_t), "the step inputs"));
  // A pipeline stage has logits (the last) or a hidden state out (the
  // others), and a hidden state in unless it is the first.
  logits_tensor_ = FindTensorWithRole(p, plan::TensorRole::Logits);
  hidden_in_tensor_ = FindTensorWithRole(p, plan::TensorRole::HiddenIn);
  hidden_out_tensor_ = FindTensorWithRole(p, plan::TensorRole::HiddenOut);
  if (hidden_in_tensor_ != kNoTensor) {
    const size_t bytes = static_cast<size_t>(limits->max_batch_tokens()) *
                         TensorRowBytes(*p.tensors()->Get(hidden_in_tensor_));
    BLOOM_RETURN_IF_ERROR(Allocate(hidden_in_, DeviceAlignUp(bytes), "the hidden state in"));
    // A decode graph bucket's padding rows are never uploaded: zeros, not
    // whatever cudaMalloc left (NaN bit patterns), as the arena's are.
    BLOOM_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(hidden_in_.data(), 0, hidden_in_.size(), stream_),
                               "hidden state memset");
    BLOOM_ASSIGN_OR_RETURN(host_hidden_in_, PinnedBuffer::Allocate(bytes, "the hidden state in"));
  }
  if (hidden_out_tensor_ != kNoTensor) {
    BLOOM_ASSIGN_OR_RETURN(
        host_hidden_out_,
        PinnedBuffer::Allocate(static_cast<size_t>(limits->max_batch_tokens()) *
                                   TensorRowBytes(*p.tensors()->Get(hidden_out_tensor_)),
                               "the hidden state out"));
  }
  BLOOM_ASSIGN_OR_RETURN(host_logits_,
                         PinnedBuffer::Allocate(static_cast<size_t>(limits->max_logit_rows()) *
                                                    vocab_size() * sizeof(float),
                                                "the logits"));
  BLOOM_RETURN_IF_ERROR(Allocate(argmax_, DeviceAlignUp(limits->max_logit_rows() * sizeof(int32_t)),
                                 "the greedy tokens"));
  BLOOM_ASSIGN_OR_RETURN(
      host_argmax_,
      PinnedBuffer::Allocate(limits->max_logit_rows() * sizeof(int32_t), "the greedy tokens"));
  const size_t choice_bytes = limits->max_logit_rows() * sizeof(cuda::TokenChoiceRow);
  BLOOM_RETURN_IF_ERROR(
      Allocate(choice_rows_, DeviceAlignUp(choice_bytes), "the token choices' settings"));
  BLOOM_ASSIGN_OR_RETURN(host_choice_rows_,
                         PinnedBuffer::Allocate(choice_bytes, "the token choices' settings"));
  const size_t logprob_bytes = limits->max_logit_rows() * sizeof(float);
  BLOOM_RETURN_IF_ERROR(
      Allocate(logprobs_, DeviceAlignUp(logprob_bytes), "the chosen tokens' log-probabilities"));
  BLOOM_ASSIGN_OR_RETURN(host_logprobs_, PinnedBuffer::Allocate(
                                             logprob_bytes, "the chosen tokens' log-probabilities"));
  return absl::OkStatus();
}

size_t CudaExecutor::KvPoolBytes() const {
  const auto* kv = plan().kv_cache();
  return static_cast<size_t>(kv->num_blocks()) * kv->num_heads() * kv->block_size() *
         kv->head_dim() * DTypeSize(ToDType(kv->dtype()));
}

absl::Status CudaExecutor::PlaceTensors(const std::vector<size_t>& weight_offsets,
                                        std::vector<WeightDestination>& weights) {
  // Step inputs live in inputs_ (one upload per step), not at their arena
  // offsets.
  const auto* tensors = plan().tensors();
  int32_t* device_inputs = reinterpret_cast<int32_t*>(inputs_.data());
  tensors_.resize(tensors->size());
  for (uint32_t i = 0; i < tensors->size(); ++i) {
    const auto* t = tensors->Get(i);
    DeviceTensor& d = tensors_[i];
    d.dtype = ToDType(t->dtype());
    d.columns = ColumnsOf(*t);
    if (!CudaReads(d.dtype)) {
      return absl::UnimplementedError(absl::StrCat(plan_.label(), ": tensor '", t->name()->str(),
                                                   "' is ", std::string(DTypeName(d.dtype)),
                                                   ", which the CUDA kernels cannot read yet"));
    }
    switch (t->kind()) {
      case plan::TensorKind::Weight:
        d.data = streamer_->Streams(i) ? streamer_->DeviceAddress(i)
                                       : weights_.data() + weight_offsets[i];
        break;
      case plan::TensorKind::Activation:
        d.data = arena_.data() + t->arena_offset();
        break;
      case plan::TensorKind::StepInput:
        switch (t->role()) {
          case plan::TensorRole::TokenIds:
            d.data = device_inputs + layout_->tokens;
            break;
          case plan::TensorRole::Positions:
            d.data = device_inputs + layout_->positions;
            break;
          case plan::TensorRole::SequenceSlots:
            d.data = device_inputs + layout_->slots;
            break;
          case plan::TensorRole::LogitRows:
            d.data = device_inputs + layout_->logit_rows;
            break;
          case plan::TensorRole::HiddenIn:
            d.data = hidden_in_.data();
            break;
          default:
            return absl::InvalidArgumentError(absl::StrCat(plan_.label(), ": step input '",
                                                           t->name()->str(),
                                                           "' has no role the executor can fill"));
        }
        break;
    }
    // (An int4 weight's scales and zero points kept inside its tiles load
    // with its values.)
    if (t->kind() == plan::TensorKind::Weight && !streamer_->Streams(i) &&
        !quantized_->InsideTiles(i))
      weights.push_back({i, d.data});
  }
  return absl::OkStatus();
}

std::vector<cuda::PagedKvView> CudaExecutor::KvLayerViews() const {
  const auto* kv = plan().kv_cache();
  const size_t pool_bytes = DeviceAlignUp(KvPoolBytes());
  const int32_t* device_inputs = reinterpret_cast<const int32_t*>(inputs_.data());
  std::vector<cuda::PagedKvView> layers(kv->num_layers());
  for (int32_t l = 0; l < kv->num_layers(); ++l) {
    cuda::PagedKvView& view = layers[l];
    view.keys = kv_pools_.data() + (2 * l) * pool_bytes;
    view.values = kv_pools_.data() + (2 * l + 1) * pool_bytes;
    view.dtype = ToDType(kv->dtype());
    view.num_heads = kv->num_heads();
    view.head_dim = kv->head_dim();
    view.block_size = kv->block_size();
    view.block_tables = device_inputs + layout_->block_tables;
    view.max_blocks_per_sequence = kv_cache_->max_blocks_per_sequence();
  }
  return layers;
}

absl::Status CudaExecutor::JoinGroup() {
  const plan::Plan& p = plan();
  if (p.tp_size() == 1) return absl::OkStatus();
  Communicator* host = rank_.host_comm;
  if (host == nullptr || host->size() != p.tp_size() || host->rank() != p.tp_rank()) {
    return absl::FailedPreconditionError(absl::StrCat(
        plan_.label(), ": a tensor-parallel plan (tp=", p.tp_size(), ", rank ", p.tp_rank(),
        ") runs inside its rank group: give bloom-run the plan directory (a thread per GPU) or "
        "start it with mpirun -np ",
        p.tp_size()));
  }
  if (rank_.collectives == CudaCollectives::kHostStaged) {
    device_comm_ = std::make_unique<HostStagedCommunicator>(*host, stream_);
    use_graphs_ = false;  // a host round trip cannot be captured
  } else {
#if BLOOM_HAVE_NCCL
    BLOOM_ASSIGN_OR_RETURN(
        std::unique_ptr<NcclCommunicator> nccl,
        NcclCommunicator::Create(*host, rank_.device, stream_, rank_.collective_timeout));
    device_comm_ = std::move(nccl);
#else
    return absl::UnimplementedError(absl::StrCat(
        plan_.label(),
        ": this build has no NCCL; host-staged collectives "
        "(bloom-run --cuda-collectives=host) run them through host memory instead (slow)"));
#endif
  }
  absl::StrAppend(&device_name_, " (GPU ", rank_.device, ", ", device_comm_->transport(), ")");
  return absl::OkStatus();
}

absl::Status CudaExecutor::RunInstructions(const StepShape& shape,
                                           const std::vector<cudaEvent_t>* events) {
  BLOOM_RETURN_IF_ERROR(ForEachInstruction(
      plan(), [&](size_t i, const plan::Instruction& instruction) -> absl::Status {
        if (events != nullptr) {
          BLOOM_CUDA_RETURN_IF_ERROR(cudaEventRecord((*events)[i], stream_), "profile event");
        }
        // Where the weight streamer's copies go is the plan's; the
        // streamer, not an op, runs them.
        if (const auto* prefetch = instruction.kernel_as_PrefetchWeights(); prefetch != nullptr) {
          return streamer_->Prefetch(prefetch->unit(), stream_);
        }
        if (const auto* await = instruction.kernel_as_AwaitWeights(); await != nullptr) {
          return streamer_->Await(await->unit(), stream_);
        }
        return ops_->Run(i, shape, stream_);
      }));
  BLOOM_RETURN_IF_ERROR(streamer_->EndStep(stream_));
  if (events != nullptr) {
    BLOOM_CUDA_RETURN_IF_ERROR(cudaEventRecord(events->back(), stream_), "profile event");
  }
  return absl::OkStatus();
}

absl::Status CudaExecutor::ProfileStep(const StepShape& shape, const StepBatch& batch) {
  const size_t n = plan().instructions()->size();
  std::vector<cudaEvent_t> events(n + 1, nullptr);
  absl::Status status = absl::OkStatus();
  for (cudaEvent_t& e : events) {
    if (status.ok()) status = CudaStatus(cudaEventCreate(&e), "profile event");
  }
  if (status.ok()) status = RunInstructions(shape, &events);
  if (status.ok()) status = CudaStatus(cudaEventSynchronize(events.back()), "profiled step");
  std::vector<double> ms(n, 0.0);
  float total = 0.0f;
  for (size_t i = 0; status.ok() && i < n; ++i) {
    float elapsed = 0.0f;
    status =
        CudaStatus(cudaEventElapsedTime(&elapsed, events[i], events[i + 1]), "profile event time");
    ms[i] = elapsed;
  }
  if (status.ok()) {
    status = CudaStatus(cudaEventElapsedTime(&total, events.front(), events.back()),
                        "profile event time");
  }
  for (cudaEvent_t e : events) {
    if (e != nullptr) cudaEventDestroy(e);
  }
  BLOOM_RETURN_IF_ERROR(status);
  ProfiledStep step;
  step.tokens = shape.tokens;
  step.logit_rows = shape.logit_rows;
  step.positions.assign(batch.positions.begin(), batch.positions.end());
  step.slots.assign(batch.sequence_slots.begin(), batch.sequence_slots.end());
  const std::string report =
      FormatStepProfile(plan(), step, ms, total, options_.profile >= 2, options_.profile_ceilings);
  std::fprintf(stderr, "%s", report.c_str());
  std::fflush(stderr);
  return absl::OkStatus();
}

absl::Status CudaExecutor::RunStep(const StepBatch& batch, StepOutput output,
                                   const int32_t* block_tables, const TokenChoices* choices) {
  logits_valid_ = false;
  const auto* limits = plan().limits();
  // A follower rank's batch was checked against the leader's KvCache.
  BLOOM_RETURN_IF_ERROR(block_tables == nullptr ? CheckStepBatch(plan(), *kv_cache_, batch)
                                                : CheckStepShape(plan(), batch));
  if (output != StepOutput::kLogits && logits_tensor_ == kNoTensor) {
    return absl::FailedPreconditionError(absl::StrCat(
        plan_.label(), ": pipeline stage ", plan().pp_stage(), " of ", plan().pp_size(),
        " computes no logits to choose tokens from"));
  }
  // The rank's thread may not be the one that created the executor.
  BLOOM_CUDA_RETURN_IF_ERROR(cudaSetDevice(rank_.device), "cudaSetDevice");
  if (max_token_id_ >= 0) {
    for (size_t t = 0; t < batch.token_ids.size(); ++t) {
      const int32_t id = batch.token_ids[t];
      if (id < 0 || id >= max_token_id_) {
        return absl::InvalidArgumentError(absl::StrCat("token id ", id, " at batch index ", t,
                                                       " is outside the vocabulary [0, ",
                                                       max_token_id_, ")"));
      }
    }
  }
  const int64_t t_real = static_cast<int64_t>(batch.token_ids.size());
  const int64_t r_real = static_cast<int64_t>(batch.logit_rows.size());
  const bool decode_graph =
      use_graphs_ && IsDecodeOnlyStep(batch.positions, batch.sequence_slots, decode_capacity_);

  // Fill the pinned mirror of the step inputs. A graph bucket pads the
  // batch: padding tokens have slot -1 (the attention kernels skip them)
  // and padding logit rows read row 0.
  int64_t t_run = t_real, r_run = r_real;
  if (decode_graph) {
    t_run = std::min<int64_t>(NextPowerOfTwo(t_real), decode_capacity_);
    r_run = std::min<int64_t>({NextPowerOfTwo(r_real), limits->max_logit_rows(), t_run});
  }
  int32_t* host = reinterpret_cast<int32_t*>(host_inputs_.data());
  const InputLayout& l = *layout_;
  for (int64_t i = 0; i < t_run; ++i) {
    const bool real = i < t_real;
    host[l.tokens + i] = real ? batch.token_ids[i] : 0;
    host[l.positions + i] = real ? batch.positions[i] : 0;
    host[l.slots + i] = real ? batch.sequence_slots[i] : -1;
  }
  for (int64_t i = 0; i < r_run; ++i) host[l.logit_rows + i] = i < r_real ? batch.logit_rows[i] : 0;
  StepShape shape;
  shape.tokens = t_run;
  shape.logit_rows = r_run;
  const int32_t* device = reinterpret_cast<const int32_t*>(inputs_.data());
  shape.positions = device + l.positions;
  shape.slots = device + l.slots;
  shape.decode_tokens = device + l.decode_tokens;
  shape.tiles = reinterpret_cast<const cuda::AttentionTile*>(device + l.tiles);
  if (decode_graph) {
    for (int64_t i = 0; i < t_run; ++i) host[l.decode_tokens + i] = static_cast<int32_t>(i);
    shape.num_decode_tokens = static_cast<int32_t>(t_run);
  } else {
    AttentionWork work = PlanAttentionWork(batch.positions, batch.sequence_slots,
                                           cuda::kAttentionTileQueries, decode_capacity_);
    std::copy(work.decode_tokens.begin(), work.decode_tokens.end(), host + l.decode_tokens);
    std::memcpy(host + l.tiles, work.tiles.data(), work.tiles.size() * sizeof(cuda::AttentionTile));
    shape.num_decode_tokens = static_cast<int32_t>(work.decode_tokens.size());
    shape.num_tiles = static_cast<int32_t>(work.tiles.size());
  }
  std::memcpy(host + l.block_tables,
              block_tables != nullptr ? block_tables : kv_cache_->block_tables(),
              (l.end - l.block_tables) * sizeof(int32_t));
  BLOOM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(inputs_.data(), host, l.end * sizeof(int32_t),
                                             cudaMemcpyHostToDevice, stream_),
                             "uploading the step inputs");
  if (hidden_in_tensor_ != kNoTensor) {
    // Through pinned memory: the caller's bytes may be pageable. A graph
    // bucket's padding rows keep whatever they held (their slots are -1).
    std::memcpy(host_hidden_in_.data(), batch.hidden_in.data(), batch.hidden_in.size());
    BLOOM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(hidden_in_.data(), host_hidden_in_.data(),
                                               batch.hidden_in.size(), cudaMemcpyHostToDevice,
                                               stream_),
                               "uploading the hidden state in");
  }
  num_tokens_ = t_run;
  num_logit_rows_ = r_run;

  bool replayed = false;  // the step ran as a captured graph
  // The step was run and then captured: the capture re-recorded the weight
  // streamer's copy events as graph nodes that never ran, so they hold no
  // times (cudaEventElapsedTime would fail on them).
  bool captured = false;
  if (decode_graph) {
    const auto key = std::make_pair(t_run, r_run);
    auto found = graphs_.find(key);
    if (found != graphs_.end() && options_.profile > 0 && profiled_.insert(key).second) {
      BLOOM_RETURN_IF_ERROR(ProfileStep(shape, batch));
    } else if (found != graphs_.end()) {
      BLOOM_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(found->second, stream_), "cudaGraphLaunch");
      replayed = true;
    } else {
      // First step of this bucket: run it eagerly (which also loads every
      // kernel and settles cuBLASLt's choices), then capture the same
      // launches for the steps that follow.
      BLOOM_RETURN_IF_ERROR(RunInstructions(shape));
      BLOOM_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal),
                                 "cudaStreamBeginCapture");
      captured = true;
      absl::Status capture_status = RunInstructions(shape);
      cudaGraph_t graph = nullptr;
      const cudaError_t end = cudaStreamEndCapture(stream_, &graph);
      BLOOM_RETURN_IF_ERROR(capture_status);
      BLOOM_CUDA_RETURN_IF_ERROR(end, "cudaStreamEndCapture");
      cudaGraphExec_t exec = nullptr;
      const cudaError_t instantiated = cudaGraphInstantiate(&exec, graph, 0);
      cudaGraphDestroy(graph);
      BLOOM_CUDA_RETURN_IF_ERROR(instantiated, "cudaGraphInstantiate");
      graphs_[key] = exec;
    }
  } else if (options_.profile > 0 && ++eager_runs_[std::make_pair(t_run, r_run)] == 2) {
    BLOOM_RETURN_IF_ERROR(ProfileStep(shape, batch));
  } else {
    BLOOM_RETURN_IF_ERROR(RunInstructions(shape));
  }

  const int64_t vocab = vocab_size();
  const float* device_logits =
      logits_tensor_ == kNoTensor ? nullptr : static_cast<const float*>(tensors_[logits_tensor_].data);
  if (hidden_out_tensor_ != kNoTensor) {
    const size_t bytes = static_cast<size_t>(t_real) *
                         TensorRowBytes(*plan().tensors()->Get(hidden_out_tensor_));
    BLOOM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(host_hidden_out_.data(),
                                               tensors_[hidden_out_tensor_].data, bytes,
                                               cudaMemcpyDeviceToHost, stream_),
                               "copying the hidden state out back");
  }
  if (device_logits == nullptr) {
    // A stage before the last: its result is the hidden state.
  } else if (output == StepOutput::kChosen) {
    BLOOM_CUDA_RETURN_IF_ERROR(
        cuda::LaunchChooseTokens(
            static_cast<float*>(tensors_[logits_tensor_].data), r_real, vocab,
            reinterpret_cast<const cuda::TokenChoiceRow*>(choice_rows_.data()),
            reinterpret_cast<const int32_t*>(penalized_ids_.data()),
            reinterpret_cast<int32_t*>(argmax_.data()), reinterpret_cast<float*>(logprobs_.data()),
            stream_),
        "token choice launch");
    BLOOM_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(host_argmax_.data(), argmax_.data(), r_real * sizeof(int32_t),
                        cudaMemcpyDeviceToHost, stream_),
        "copying the chosen tokens back");
    BLOOM_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(host_logprobs_.data(), logprobs_.data(), r_real * sizeof(float),
                        cudaMemcpyDeviceToHost, stream_),
        "copying the chosen tokens' log-probabilities back");
  } else if (output == StepOutput::kArgMax) {
    BLOOM_CUDA_RETURN_IF_ERROR(
        cuda::LaunchArgMax(device_logits, r_real, vocab, reinterpret_cast<int32_t*>(argmax_.data()),
                           stream_),
        "argmax launch");
    BLOOM_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(host_argmax_.data(), argmax_.data(), r_real * sizeof(int32_t),
                        cudaMemcpyDeviceToHost, stream_),
        "copying the greedy tokens back");
  } else if (rank_.copy_logits) {
    BLOOM_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(host_logits_.data(), device_logits, r_real * vocab * sizeof(float),
                        cudaMemcpyDeviceToHost, stream_),
        "copying the logits back");
  }
  BLOOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), "step");
  streamer_->CountStep(/*timed=*/!replayed && !captured);
  // A disk unit that failed to read left its slot stale: the step's
  // results are not to be used.
  BLOOM_RETURN_IF_ERROR(streamer_->TakeError());
  num_tokens_ = t_real;
  num_logit_rows_ = r_real;
  logits_valid_ = output == StepOutput::kLogits && rank_.copy_logits && device_logits != nullptr;
  return absl::OkStatus();
}

absl::Status CudaExecutor::Step(const StepBatch& batch) {
  return RunStep(batch, StepOutput::kLogits, nullptr);
}

absl::Status CudaExecutor::StepWithBlockTables(const StepBatch& batch,
                                               const int32_t* block_tables) {
  if (block_tables == nullptr) {
    return absl::InvalidArgumentError("StepWithBlockTables without block tables");
  }
  return RunStep(batch, StepOutput::kLogits, block_tables);
}

absl::StatusOr<absl::Span<const int32_t>> CudaExecutor::StepGreedy(const StepBatch& batch) {
  return StepGreedyWithBlockTables(batch, nullptr);
}

absl::StatusOr<absl::Span<const int32_t>> CudaExecutor::StepGreedyWithBlockTables(
    const StepBatch& batch, const int32_t* block_tables) {
  BLOOM_RETURN_IF_ERROR(RunStep(batch, StepOutput::kArgMax, block_tables));
  return absl::MakeConstSpan(reinterpret_cast<const int32_t*>(host_argmax_.data()),
                             static_cast<size_t>(num_logit_rows_));
}

absl::Status CudaExecutor::UploadChoices(const TokenChoices& choices) {
  const size_t ids = choices.penalized_ids.size();
  if (ids * sizeof(int32_t) > penalized_ids_.size()) {
    // Grows by doubling; steps that fit reuse the buffers. (The bytes
    // freed stay counted: peak_device_bytes is a high-water mark.)
    const size_t bytes = DeviceAlignUp(std::max<size_t>(2 * ids, 1024) * sizeof(int32_t));
    penalized_ids_ = DeviceBuffer();
    BLOOM_RETURN_IF_ERROR(Allocate(penalized_ids_, bytes, "the penalized token ids"));
    BLOOM_ASSIGN_OR_RETURN(host_penalized_ids_,
                           PinnedBuffer::Allocate(bytes, "the penalized token ids"));
  }
  auto* rows = reinterpret_cast<cuda::TokenChoiceRow*>(host_choice_rows_.data());
  for (size_t r = 0; r < choices.rows.size(); ++r) {
    const RowChoice& c = choices.rows[r];
    cuda::TokenChoiceRow& row = rows[r];
    row.uniform = c.uniform;
    row.temperature = c.temperature;
    row.top_p = c.top_p;
    row.typical_p = c.typical_p;
    row.repetition_penalty = c.repetition_penalty;
    row.top_k = c.top_k;
    row.banned_token = c.banned_token;
    row.penalty_begin = c.penalty_begin;
    row.penalty_count = c.penalty_count;
    row.sample = c.sample ? 1 : 0;
  }
  BLOOM_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(choice_rows_.data(), rows, choices.rows.size() * sizeof(cuda::TokenChoiceRow),
                      cudaMemcpyHostToDevice, stream_),
      "uploading the token choices");
  if (ids > 0) {
    std::memcpy(host_penalized_ids_.data(), choices.penalized_ids.data(), ids * sizeof(int32_t));
    BLOOM_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(penalized_ids_.data(), host_penalized_ids_.data(), ids * sizeof(int32_t),
                        cudaMemcpyHostToDevice, stream_),
        "uploading the penalized token ids");
  }
  return absl::OkStatus();
}

absl::StatusOr<ChosenTokens> CudaExecutor::StepAndChoose(const StepBatch& batch,
                                                         const TokenChoices& choices) {
  return StepAndChooseWithBlockTables(batch, choices, nullptr);
}

absl::StatusOr<ChosenTokens> CudaExecutor::StepAndChooseWithBlockTables(
    const StepBatch& batch, const TokenChoices& choices, const int32_t* block_tables) {
  if (choices.rows.size() != batch.logit_rows.size()) {
    return absl::InvalidArgumentError(absl::StrCat("token choice: ", choices.rows.size(),
                                                   " choices for ", batch.logit_rows.size(),
                                                   " logit rows"));
  }
  for (size_t r = 0; r < choices.rows.size(); ++r) {
    const RowChoice& c = choices.rows[r];
    if (c.penalty_begin < 0 || c.penalty_count < 0 ||
        static_cast<size_t>(c.penalty_begin) + c.penalty_count > choices.penalized_ids.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token choice row ", r, ": penalized ids [", c.penalty_begin, ", +", c.penalty_count,
          ") outside the ", choices.penalized_ids.size(), " given"));
    }
  }
  // The step's own checks run first (in RunStep); a choice upload before a
  // refused batch is harmless, as nothing reads it.
  BLOOM_CUDA_RETURN_IF_ERROR(cudaSetDevice(rank_.device), "cudaSetDevice");
  BLOOM_RETURN_IF_ERROR(UploadChoices(choices));
  BLOOM_RETURN_IF_ERROR(RunStep(batch, StepOutput::kChosen, block_tables, &choices));
  const size_t rows = static_cast<size_t>(batch.logit_rows.size());
  return ChosenTokens{
      absl::MakeConstSpan(reinterpret_cast<const int32_t*>(host_argmax_.data()), rows),
      absl::MakeConstSpan(reinterpret_cast<const float*>(host_logprobs_.data()), rows)};
}

absl::Span<const uint8_t> CudaExecutor::hidden_out() const {
  if (hidden_out_tensor_ == kNoTensor) return {};
  return absl::MakeConstSpan(
      host_hidden_out_.data(),
      static_cast<size_t>(num_tokens_) * TensorRowBytes(*plan().tensors()->Get(hidden_out_tensor_)));
}

absl::Span<const float> CudaExecutor::logits() const {
  if (!logits_valid_) return {};
  return absl::MakeConstSpan(reinterpret_cast<const float*>(host_logits_.data()),
                             static_cast<size_t>(num_logit_rows_ * vocab_size()));
}

absl::StatusOr<std::vector<float>> CudaExecutor::ReadTensor(absl::string_view name) {
  const auto* tensors = plan().tensors();
  for (uint32_t i = 0; i < tensors->size(); ++i) {
    const auto* t = tensors->Get(i);
    if (absl::string_view(t->name()->c_str(), t->name()->size()) != name) continue;
    const int64_t count = ElementsOf(*t, RowsAt(*t, StepRows{num_tokens_, num_logit_rows_}));
    const DType dtype = tensors_[i].dtype;
    std::vector<uint8_t> raw(count * DTypeSize(dtype));
    BLOOM_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(raw.data(), tensors_[i].data, raw.size(), cudaMemcpyDeviceToHost),
        absl::StrCat("reading tensor '", name, "'"));
    std::vector<float> values(count);
    if (dtype == DType::kI32) {
      const int32_t* ints = reinterpret_cast<const int32_t*>(raw.data());
      for (int64_t k = 0; k < count; ++k) values[k] = static_cast<float>(ints[k]);
    } else {
      ConvertToFloat32(dtype, raw.data(), values.data(), count);
    }
    return values;
  }
  return absl::NotFoundError(absl::StrCat(plan_.label(), ": no tensor named '", name, "'"));
}

}  // namespace bloom
