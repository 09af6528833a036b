// AlibiAttention over the paged KV cache: a step with prefill work stores
// every token's K and V (kernels/cuda/kv_store.cuh) and runs the prefill
// tiles; the step's lone decode tokens go to a split-K decode kernel,
// which stores their K and V itself when the step is decode tokens alone
// (every graph step). The op owns its heads' ALiBi slopes on the device;
// the decode partials are scratch shared by every layer's op.
#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/attention_decode.cuh"
#include "kernels/cuda/attention_prefill.cuh"
#include "kernels/cuda/kv_store.cuh"
#include "runtime/cuda/attention_work.h"
#include "runtime/cuda/cuda_status.h"
#include "runtime/cuda/ops/cuda_ops.h"
#include "runtime/support/status_macros.h"

namespace bloom::cuda_ops {
namespace {

class AlibiAttentionOp : public CudaOp {
 public:
  AlibiAttentionOp(const CudaOpContext& context, const plan::Instruction& instruction)
      : instruction_(instruction),
        params_(*instruction.kernel_as_AlibiAttention()),
        qkv_rows_(context.plan_tensor(instruction.operands()->Get(0))),
        qkv_(context.tensor(instruction.operands()->Get(0))),
        context_(context.tensor(instruction.results()->Get(0))),
        kv_((*context.kv_layers)[params_.layer()]),
        cache_(*context.plan->kv_cache()),
        decode_kernel_(context.decode_attention) {
    const auto* limits = context.plan->limits();
    decode_capacity_ = DecodeCapacity(*context.plan);
    // Splits of a decode token's keys: enough to fill the GPU for one
    // sequence of a long context, bounded so the partials stay small.
    decode_splits_ = cuda::AttentionDecodeMaxSplits(limits->max_seq_len(), decode_kernel_);
  }

  size_t ScratchBytes(ScratchRegion region) const override {
    if (region != ScratchRegion::kAttentionDecode) return 0;
    return sizeof(float) * cuda::AttentionDecodeScratchFloats(decode_capacity_, cache_.num_heads(),
                                                              cache_.head_dim(), decode_splits_);
  }

  absl::Status Prepare(const CudaOpResources& resources) override {
    decode_scratch_ = reinterpret_cast<float*>(resources.region(ScratchRegion::kAttentionDecode));
    const std::vector<float> host(params_.alibi_slopes()->begin(), params_.alibi_slopes()->end());
    BLOOM_ASSIGN_OR_RETURN(
        slopes_, resources.allocate(DeviceAlignUp(std::max<size_t>(host.size(), 1) * sizeof(float)),
                                    "the ALiBi slopes"));
    BLOOM_CUDA_RETURN_IF_ERROR(cudaMemcpy(slopes_.data(), host.data(), host.size() * sizeof(float),
                                          cudaMemcpyHostToDevice),
                               "copying the ALiBi slopes");
    if (resources.first_of_kernel) {
      // The counters of the scratch every layer shares start at zero; each
      // launch leaves them zero again.
      BLOOM_CUDA_RETURN_IF_ERROR(
          cuda::ClearAttentionDecodeScratch(decode_scratch_, decode_capacity_, cache_.num_heads(),
                                            cache_.head_dim(), decode_splits_, nullptr),
          "clearing the decode attention scratch");
      // The executor's stream does not wait for the legacy stream.
      BLOOM_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize(), "clearing the decode attention scratch");
    }
    return absl::OkStatus();
  }

  absl::Status Run(const StepShape& shape, cudaStream_t stream) override {
    const float* slopes = reinterpret_cast<const float*>(slopes_.data());
    cudaError_t error = cudaSuccess;
    // A step of decode tokens alone (every graph step) lets the decode
    // kernel store each token's K and V; otherwise every token is stored
    // first, so that prefill tiles see their own chunk.
    const bool decode_stores = shape.num_tiles == 0;
    if (!decode_stores) {
      error = cuda::LaunchKvStore(qkv_.data, shape.positions, shape.slots,
                                  RowsAt(qkv_rows_, shape.rows()), kv_, stream);
    }
    if (error == cudaSuccess) {
      error = cuda::LaunchAttentionPrefill(qkv_.data, shape.tiles, shape.num_tiles, slopes, kv_,
                                           context_.data, context_.dtype, stream);
    }
    if (error == cudaSuccess) {
      error = cuda::LaunchAttentionDecode(qkv_.data, shape.decode_tokens, shape.num_decode_tokens,
                                          shape.positions, shape.slots, slopes, kv_, decode_splits_,
                                          decode_stores, decode_scratch_, context_.data,
                                          context_.dtype, stream, decode_kernel_);
    }
    return LaunchStatus(error, instruction_);
  }

 private:
  const plan::Instruction& instruction_;
  const plan::AlibiAttention& params_;
  const plan::Tensor& qkv_rows_;
  const DeviceTensor qkv_, context_;
  const cuda::PagedKvView kv_;
  const plan::KvCache& cache_;
  const cuda::DecodeAttentionKernel decode_kernel_;
  int32_t decode_capacity_ = 0;
  int32_t decode_splits_ = 1;
  DeviceBuffer slopes_;  // this op's heads' slopes
  float* decode_scratch_ = nullptr;
};

}  // namespace

OpOrError MakeAlibiAttention(const CudaOpContext& context, size_t index) {
  const auto* params = context.plan->instructions()->Get(index)->kernel_as_AlibiAttention();
  if (params->head_dim() > cuda::kAttentionMaxHeadDim) {
    return absl::UnimplementedError(
        absl::StrCat("instruction ", index, ": AlibiAttention with head_dim ", params->head_dim(),
                     " (the CUDA kernels take at most ", cuda::kAttentionMaxHeadDim, ")"));
  }
  return std::make_unique<AlibiAttentionOp>(context, *context.plan->instructions()->Get(index));
}

}  // namespace bloom::cuda_ops
