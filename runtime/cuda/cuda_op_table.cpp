#include "runtime/cuda/cuda_op_table.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/cuda_status.h"
#include "runtime/cuda/ops/cuda_ops.h"
#include "runtime/support/status_macros.h"

namespace bloom {
namespace {

constexpr size_t kGemmWorkspaceBytes = 32u << 20;

// The op of instruction `index`; null for the weight streamer's kernels.
// Exhaustive, no default: a new kernel is a compiler warning here until it
// has its op file.
cuda_ops::OpOrError MakeOp(const CudaOpContext& context, size_t index) {
  const plan::Kernel kernel = context.plan->instructions()->Get(index)->kernel_type();
  switch (kernel) {
    case plan::Kernel::EmbeddingGather:
      return cuda_ops::MakeEmbeddingGather(context, index);
    case plan::Kernel::LayerNorm:
      return cuda_ops::MakeLayerNorm(context, index);
    case plan::Kernel::AddLayerNorm:
      return cuda_ops::MakeAddLayerNorm(context, index);
    case plan::Kernel::Linear:
      return cuda_ops::MakeLinear(context, index);
    case plan::Kernel::Gelu:
      return cuda_ops::MakeGelu(context, index);
    case plan::Kernel::Add:
      return cuda_ops::MakeAdd(context, index);
    case plan::Kernel::Cast:
      return cuda_ops::MakeCast(context, index);
    case plan::Kernel::GatherRows:
      return cuda_ops::MakeGatherRows(context, index);
    case plan::Kernel::AlibiAttention:
      return cuda_ops::MakeAlibiAttention(context, index);
    case plan::Kernel::AllReduce:
      return cuda_ops::MakeAllReduce(context, index);
    case plan::Kernel::AllGather:
      return cuda_ops::MakeAllGather(context, index);
    case plan::Kernel::PrefetchWeights:
    case plan::Kernel::AwaitWeights:
      return std::unique_ptr<CudaOp>();  // the executor's weight streamer runs these
    case plan::Kernel::NONE:
      break;
  }
  return absl::UnimplementedError(absl::StrCat("instruction ", index, ": kernel ",
                                               plan::EnumNameKernel(kernel),
                                               " has no CUDA implementation"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<CudaOpTable>> CudaOpTable::Create(
    const plan::Plan& plan, const std::string& plan_label, const std::vector<DeviceTensor>& tensors,
    const std::vector<cuda::PagedKvView>& kv_layers, Communicator* comm,
    std::function<bool(uint32_t)> streamed, const cuda::GemmOptions& gemm_options,
    cuda::DecodeAttentionKernel decode_attention, const QuantizedDeviceLayout* quantized) {
  std::unique_ptr<CudaOpTable> table(
      new CudaOpTable(plan, plan_label, tensors, std::move(streamed)));
  table->gemm_options_ = gemm_options;
  CudaOpContext& context = table->context_;
  context.plan = &plan;
  context.tensors = &tensors;
  context.kv_layers = &kv_layers;
  context.gemm = &table->gemm_;
  context.converted = &table->converted_;
  context.comm = comm;
  context.quantized = quantized;
  context.decode_attention = decode_attention;
  const size_t n = plan.instructions()->size();
  table->ops_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    BLOOM_ASSIGN_OR_RETURN(table->ops_[i], MakeOp(context, i));
    if (table->ops_[i] == nullptr) continue;
    for (int r = 0; r < kScratchRegions; ++r) {
      table->region_bytes_[r] =
          std::max(table->region_bytes_[r],
                   DeviceAlignUp(table->ops_[i]->ScratchBytes(static_cast<ScratchRegion>(r))));
    }
  }
  for (size_t bytes : table->region_bytes_) table->scratch_bytes_ += bytes;
  table->scratch_bytes_ += kGemmWorkspaceBytes;
  return table;
}

absl::Status CudaOpTable::Prepare(
    uint8_t* scratch, cudaStream_t stream,
    std::function<absl::StatusOr<DeviceBuffer>(size_t, const std::string&)> allocate) {
  CudaOpResources resources;
  resources.stream = stream;
  resources.allocate = std::move(allocate);
  size_t offset = 0;
  for (int r = 0; r < kScratchRegions; ++r) {
    resources.scratch[r] = scratch + offset;
    offset += region_bytes_[r];
  }
  BLOOM_RETURN_IF_ERROR(CublasStatus(
      gemm_.Init(scratch + offset, kGemmWorkspaceBytes, gemm_options_), "cublasLtCreate"));
  std::set<plan::Kernel> seen;
  for (size_t i = 0; i < ops_.size(); ++i) {
    if (ops_[i] == nullptr) continue;
    resources.first_of_kernel =
        seen.insert(context_.plan->instructions()->Get(i)->kernel_type()).second;
    BLOOM_RETURN_IF_ERROR(ops_[i]->Prepare(resources));
  }
  return absl::OkStatus();
}

absl::Status CudaOpTable::NoOp(size_t index) const {
  return absl::UnimplementedError(absl::StrCat(
      "kernel ", plan::EnumNameKernel(context_.plan->instructions()->Get(index)->kernel_type()),
      " has no CUDA implementation"));
}

}  // namespace bloom
