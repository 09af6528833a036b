#include "runtime/cuda/cuda_dispatch.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/add.cuh"
#include "kernels/cuda/add_layer_norm.cuh"
#include "kernels/cuda/attention_decode.cuh"
#include "kernels/cuda/attention_prefill.cuh"
#include "kernels/cuda/cast.cuh"
#include "kernels/cuda/embedding.cuh"
#include "kernels/cuda/gather_rows.cuh"
#include "kernels/cuda/gelu.cuh"
#include "kernels/cuda/kv_store.cuh"
#include "kernels/cuda/layer_norm.cuh"
#include "runtime/cuda/cuda_status.h"
#include "runtime/support/status_macros.h"

namespace bloom {
namespace {

constexpr size_t kGemmWorkspaceBytes = 32u << 20;
constexpr size_t kScratchAlignment = 256;
// Splits of a decode token's keys: enough blocks to fill the GPU for one
// sequence of a long context, bounded so the partials stay small.
constexpr int32_t kMaxDecodeSplits = 32;

size_t AlignUp(size_t n) { return (n + kScratchAlignment - 1) / kScratchAlignment * kScratchAlignment; }

}  // namespace

int64_t CudaDispatch::Rows(uint32_t tensor, const StepShape& shape) const {
  const plan::Tensor* t = plan_->tensors()->Get(tensor);
  switch (t->rows()) {
    case plan::RowDim::Tokens: return shape.tokens;
    case plan::RowDim::LogitRows: return shape.logit_rows;
    default: return t->shape()->Get(0);
  }
}

absl::StatusOr<std::vector<WeightConversion>> CudaDispatch::Prepare(
    const plan::Plan& plan, std::vector<DeviceTensor> tensors,
    std::vector<cuda::PagedKvView> kv_layers, std::vector<const float*> slopes) {
  plan_ = &plan;
  tensors_ = std::move(tensors);
  kv_layers_ = std::move(kv_layers);
  slopes_ = std::move(slopes);
  const auto* limits = plan.limits();
  auto capacity = [&](uint32_t id) -> int64_t {
    const plan::Tensor* t = plan.tensors()->Get(id);
    switch (t->rows()) {
      case plan::RowDim::Tokens: return limits->max_batch_tokens();
      case plan::RowDim::LogitRows: return limits->max_logit_rows();
      default: return t->shape()->Get(0);
    }
  };

  std::vector<WeightConversion> conversions;
  auto need_conversion = [&](uint32_t tensor, DType dtype) {
    for (const auto& c : conversions) {
      if (c.tensor == tensor && c.dtype == dtype) return;
    }
    conversions.push_back({tensor, dtype});
  };
  bool has_attention = false;
  size_t collective_bytes = 0;
  const auto* instructions = plan.instructions();
  for (size_t i = 0; i < instructions->size(); ++i) {
    const auto* instruction = instructions->Get(i);
    const auto* in = instruction->operands();
    const auto* out = instruction->results();
    switch (instruction->kernel_type()) {
      case plan::Kernel::Linear: {
        const DType x = tensors_[in->Get(0)].dtype, w = tensors_[in->Get(1)].dtype;
        const DType y = tensors_[out->Get(0)].dtype;
        LinearRecipe recipe;
        recipe.compute = x == w ? x : DType::kF32;
        recipe.cast_x = x != recipe.compute;
        recipe.gemm_out = cuda::LinearGemm::Supports(recipe.compute, recipe.compute, y) ? y : DType::kF32;
        recipe.out_via_scratch = recipe.gemm_out != y;
        recipe.weight = tensors_[in->Get(1)].data;
        if (w != recipe.compute) need_conversion(in->Get(1), recipe.compute);
        if (in->size() > 2) {
          recipe.bias = tensors_[in->Get(2)].data;
          if (tensors_[in->Get(2)].dtype != recipe.gemm_out) need_conversion(in->Get(2), recipe.gemm_out);
        }
        const int64_t rows = capacity(in->Get(0));
        const int64_t k = tensors_[in->Get(0)].columns, m = tensors_[out->Get(0)].columns;
        if (recipe.cast_x) {
          x_scratch_bytes_ = std::max(x_scratch_bytes_, AlignUp(rows * k * DTypeSize(recipe.compute)));
        }
        if (recipe.out_via_scratch) {
          out_scratch_bytes_ = std::max(out_scratch_bytes_, AlignUp(rows * m * sizeof(float)));
        }
        linear_[i] = recipe;
        break;
      }
      case plan::Kernel::AlibiAttention: {
        has_attention = true;
        const auto* params = instruction->kernel_as_AlibiAttention();
        if (params->head_dim() > cuda::kAttentionMaxHeadDim) {
          return absl::UnimplementedError(absl::StrCat(
              "instruction ", i, ": AlibiAttention with head_dim ", params->head_dim(),
              " (the CUDA kernels take at most ", cuda::kAttentionMaxHeadDim, ")"));
        }
        break;
      }
      case plan::Kernel::LayerNorm:
      case plan::Kernel::AddLayerNorm:
        if (tensors_[in->Get(0)].columns > 16384) {
          return absl::UnimplementedError(absl::StrCat(
              "instruction ", i, ": layer norm over ", tensors_[in->Get(0)].columns,
              " columns (the CUDA kernel takes at most 16384)"));
        }
        break;
      case plan::Kernel::AllReduce: {
        const DeviceTensor& x = tensors_[in->Get(0)];
        const DeviceTensor& y = tensors_[out->Get(0)];
        if (x.dtype == DType::kI32 || y.dtype == DType::kI32) {
          return absl::UnimplementedError(
              absl::StrCat("instruction ", i, ": AllReduce of int32 tensors"));
        }
        if (y.dtype != DType::kF32) {
          collective_bytes = std::max(
              collective_bytes, AlignUp(capacity(in->Get(0)) * x.columns * sizeof(float)));
        }
        break;
      }
      case plan::Kernel::AllGather: {
        const DeviceTensor& x = tensors_[in->Get(0)];
        const DeviceTensor& y = tensors_[out->Get(0)];
        if (x.dtype != DType::kF32 || y.dtype != DType::kF32) {
          return absl::UnimplementedError(absl::StrCat(
              "instruction ", i, ": AllGather of ", std::string(DTypeName(x.dtype)), " into ",
              std::string(DTypeName(y.dtype)), " (the CUDA executor gathers float32, the logits' dtype)"));
        }
        const int64_t ranks = std::max<int64_t>(plan.tp_size(), 1);
        collective_bytes = std::max(
            collective_bytes, AlignUp(ranks * capacity(in->Get(0)) * x.columns * sizeof(float)));
        break;
      }
      default:
        break;
    }
  }

  size_t decode_bytes = 0;
  if (has_attention) {
    const auto* kv = plan.kv_cache();
    decode_capacity_ = std::min(limits->max_batch_tokens(), std::max(limits->max_sequences(), 1));
    const int32_t wanted =
        (limits->max_seq_len() + cuda::kDecodeMinKeysPerSplit - 1) / cuda::kDecodeMinKeysPerSplit;
    decode_splits_ = std::clamp(wanted, 1, kMaxDecodeSplits);
    decode_bytes = AlignUp(sizeof(float) * cuda::AttentionDecodeScratchFloats(
                                               decode_capacity_, kv->num_heads(), kv->head_dim(),
                                               decode_splits_));
  }
  collective_offset_ = x_scratch_bytes_ + out_scratch_bytes_ + decode_bytes;
  scratch_bytes_ = collective_offset_ + collective_bytes + kGemmWorkspaceBytes;
  return conversions;
}

void CudaDispatch::SetConversion(const WeightConversion& conversion, void* data) {
  conversions_[{conversion.tensor, static_cast<int>(conversion.dtype)}] = data;
  for (auto& [index, recipe] : linear_) {
    const auto* in = plan_->instructions()->Get(index)->operands();
    if (in->Get(1) == conversion.tensor && recipe.compute == conversion.dtype) recipe.weight = data;
    if (in->size() > 2 && in->Get(2) == conversion.tensor && recipe.gemm_out == conversion.dtype) {
      recipe.bias = data;
    }
  }
}

absl::Status CudaDispatch::SetScratch(void* scratch) {
  scratch_ = static_cast<uint8_t*>(scratch);
  if (decode_capacity_ > 0) {
    const auto* kv = plan_->kv_cache();
    BLOOM_RETURN_IF_ERROR(CudaStatus(
        cuda::ClearAttentionDecodeScratch(reinterpret_cast<float*>(scratch_ + x_scratch_bytes_ + out_scratch_bytes_),
                                          decode_capacity_, kv->num_heads(), kv->head_dim(), decode_splits_,
                                          nullptr),
        "clearing the decode attention scratch"));
    // The executor's stream does not wait for the legacy stream.
    BLOOM_RETURN_IF_ERROR(CudaStatus(cudaDeviceSynchronize(), "clearing the decode attention scratch"));
  }
  return CublasStatus(gemm_.Init(scratch_ + scratch_bytes_ - kGemmWorkspaceBytes, kGemmWorkspaceBytes),
                      "cublasLtCreate");
}

absl::Status CudaDispatch::RunLinear(size_t index, const plan::Instruction& instruction,
                                     const StepShape& shape, cudaStream_t stream) {
  const LinearRecipe& recipe = linear_.at(index);
  const auto* in = instruction.operands();
  const DeviceTensor& x = tensors_[in->Get(0)];
  const DeviceTensor& y = tensors_[instruction.results()->Get(0)];
  cuda::GemmProblem problem;
  problem.rows = Rows(in->Get(0), shape);
  problem.in_features = x.columns;
  problem.out_features = y.columns;
  problem.x_dtype = problem.w_dtype = recipe.compute;
  problem.y_dtype = recipe.gemm_out;
  problem.has_bias = recipe.bias != nullptr;
  problem.gelu = instruction.kernel_as_Linear()->epilogue() == plan::Epilogue::Gelu;
  const void* x_data = x.data;
  if (recipe.cast_x) {
    BLOOM_CUDA_RETURN_IF_ERROR(cuda::LaunchCast(x.data, x.dtype, problem.rows * x.columns, scratch_,
                                                recipe.compute, stream),
                               "casting a Linear's input");
    x_data = scratch_;
  }
  void* y_data = recipe.out_via_scratch ? scratch_ + x_scratch_bytes_ : y.data;
  BLOOM_RETURN_IF_ERROR(
      CublasStatus(gemm_.Run(problem, x_data, recipe.weight, recipe.bias, y_data, stream),
                   absl::StrCat("cublasLtMatmul [", problem.rows, " x ", problem.in_features,
                                "] x [", problem.out_features, " x ", problem.in_features, "]ᵀ")));
  if (recipe.out_via_scratch) {
    BLOOM_CUDA_RETURN_IF_ERROR(cuda::LaunchCast(y_data, DType::kF32, problem.rows * y.columns, y.data,
                                                y.dtype, stream),
                               "casting a Linear's output");
  }
  return absl::OkStatus();
}

// Sums the ranks' partial results in float32 (the plan's accumulate type
// for collectives): a 16-bit partial is widened into the collective
// scratch, reduced there and narrowed into the result, so the sum rounds
// once, as the CPU reference's does.
absl::Status CudaDispatch::RunAllReduce(const plan::Instruction& instruction,
                                        const StepShape& shape, cudaStream_t stream) {
  const DeviceTensor& x = tensors_[instruction.operands()->Get(0)];
  const DeviceTensor& y = tensors_[instruction.results()->Get(0)];
  const int64_t count = Rows(instruction.operands()->Get(0), shape) * x.columns;
  if (comm_ == nullptr) {
    return absl::FailedPreconditionError("AllReduce without a communicator");
  }
  float* sum = y.dtype == DType::kF32 ? static_cast<float*>(y.data) : collective_scratch();
  if (x.dtype == DType::kF32 && x.data == sum) {
    // Already in place.
  } else if (x.dtype == DType::kF32) {
    BLOOM_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(sum, x.data, count * sizeof(float), cudaMemcpyDeviceToDevice, stream),
        "AllReduce: copying the partial sum");
  } else {
    BLOOM_CUDA_RETURN_IF_ERROR(cuda::LaunchCast(x.data, x.dtype, count, sum, DType::kF32, stream),
                               "AllReduce: widening the partial sum");
  }
  BLOOM_RETURN_IF_ERROR(comm_->AllReduceSum(sum, static_cast<size_t>(count)));
  if (y.dtype != DType::kF32) {
    BLOOM_CUDA_RETURN_IF_ERROR(cuda::LaunchCast(sum, DType::kF32, count, y.data, y.dtype, stream),
                               "AllReduce: narrowing the sum");
  }
  return absl::OkStatus();
}

// The communicator gathers whole buffers rank-major ([ranks, rows, C]);
// the plan wants the ranks' columns side by side ([rows, ranks * C]): one
// strided device copy per rank puts each block in its column range.
absl::Status CudaDispatch::RunAllGather(const plan::Instruction& instruction,
                                        const StepShape& shape, cudaStream_t stream) {
  const DeviceTensor& x = tensors_[instruction.operands()->Get(0)];
  const DeviceTensor& y = tensors_[instruction.results()->Get(0)];
  const int64_t rows = Rows(instruction.operands()->Get(0), shape);
  const int64_t columns = x.columns;
  const int ranks = comm_ == nullptr ? 1 : comm_->size();
  if (ranks == 1) {
    if (x.data != y.data) {
      BLOOM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(y.data, x.data, rows * columns * sizeof(float),
                                                 cudaMemcpyDeviceToDevice, stream),
                                 "AllGather (one rank)");
    }
    return absl::OkStatus();
  }
  if (y.columns != ranks * columns) {
    return absl::FailedPreconditionError(absl::StrCat(
        "AllGather of ", columns, " columns on ", ranks, " ranks into ", y.columns, " columns"));
  }
  float* gathered = collective_scratch();
  BLOOM_RETURN_IF_ERROR(
      comm_->AllGather(static_cast<const float*>(x.data), rows * columns, gathered));
  const size_t row_bytes = columns * sizeof(float);
  for (int r = 0; r < ranks; ++r) {
    BLOOM_CUDA_RETURN_IF_ERROR(
        cudaMemcpy2DAsync(static_cast<float*>(y.data) + r * columns, ranks * row_bytes,
                          gathered + r * rows * columns, row_bytes, row_bytes, rows,
                          cudaMemcpyDeviceToDevice, stream),
        "AllGather: placing a rank's columns");
  }
  return absl::OkStatus();
}

absl::Status CudaDispatch::Run(size_t index, const StepShape& shape, cudaStream_t stream) {
  const plan::Instruction& instruction = *plan_->instructions()->Get(index);
  const auto* in = instruction.operands();
  const auto* out = instruction.results();
  auto operand = [&](size_t i) -> const DeviceTensor& { return tensors_[in->Get(i)]; };
  auto result = [&](size_t i) -> const DeviceTensor& { return tensors_[out->Get(i)]; };
  const int64_t rows = Rows(in->Get(0), shape);
  cudaError_t error = cudaSuccess;
  switch (instruction.kernel_type()) {
    case plan::Kernel::EmbeddingGather: {
      const auto* params = instruction.kernel_as_EmbeddingGather();
      const plan::Tensor* table = plan_->tensors()->Get(in->Get(1));
      error = cuda::LaunchEmbeddingGather(static_cast<const int32_t*>(operand(0).data), rows,
                                          operand(1).data, operand(1).dtype, table->shape()->Get(0),
                                          params->vocab_begin(), operand(1).columns, result(0).data,
                                          result(0).dtype, stream);
      break;
    }
    case plan::Kernel::LayerNorm:
      error = cuda::LaunchLayerNorm(operand(0).data, operand(0).dtype, operand(1).data, operand(1).dtype,
                                    operand(2).data, operand(2).dtype, rows, operand(0).columns,
                                    instruction.kernel_as_LayerNorm()->epsilon(), result(0).data,
                                    result(0).dtype, stream);
      break;
    case plan::Kernel::AddLayerNorm:
      error = cuda::LaunchAddLayerNorm(
          operand(0).data, operand(0).dtype, operand(1).data, operand(1).dtype, operand(2).data,
          operand(2).dtype, operand(3).data, operand(3).dtype, rows, operand(0).columns,
          instruction.kernel_as_AddLayerNorm()->epsilon(), result(0).data, result(0).dtype,
          result(1).data, result(1).dtype, stream);
      break;
    case plan::Kernel::Linear:
      return RunLinear(index, instruction, shape, stream);
    case plan::Kernel::AllReduce:
      return RunAllReduce(instruction, shape, stream);
    case plan::Kernel::AllGather:
      return RunAllGather(instruction, shape, stream);
    case plan::Kernel::Gelu:
      error = cuda::LaunchGelu(operand(0).data, operand(0).dtype, rows * operand(0).columns,
                               result(0).data, result(0).dtype, stream);
      break;
    case plan::Kernel::Add:
      error = cuda::LaunchAdd(operand(0).data, operand(0).dtype, operand(1).data, operand(1).dtype,
                              rows * operand(0).columns, result(0).data, result(0).dtype, stream);
      break;
    case plan::Kernel::Cast:
      error = cuda::LaunchCast(operand(0).data, operand(0).dtype, rows * operand(0).columns,
                               result(0).data, result(0).dtype, stream);
      break;
    case plan::Kernel::GatherRows:
      error = cuda::LaunchGatherRows(operand(0).data, operand(0).dtype, operand(0).columns,
                                     static_cast<const int32_t*>(operand(1).data),
                                     Rows(in->Get(1), shape), result(0).data, result(0).dtype,
                                     stream);
      break;
    case plan::Kernel::AlibiAttention: {
      const auto* params = instruction.kernel_as_AlibiAttention();
      const cuda::PagedKvView& kv = kv_layers_[params->layer()];
      // A step of decode tokens alone (every graph step) lets the decode
      // kernel store each token's K and V; otherwise every token is stored
      // first, so that prefill tiles see their own chunk.
      const bool decode_stores = shape.num_tiles == 0;
      if (!decode_stores) {
        error = cuda::LaunchKvStore(operand(0).data, shape.positions, shape.slots, rows, kv, stream);
      }
      if (error == cudaSuccess) {
        error = cuda::LaunchAttentionPrefill(operand(0).data, shape.tiles, shape.num_tiles,
                                             slopes_[index], kv, result(0).data, result(0).dtype,
                                             stream);
      }
      if (error == cudaSuccess) {
        const size_t decode_offset = x_scratch_bytes_ + out_scratch_bytes_;
        error = cuda::LaunchAttentionDecode(
            operand(0).data, shape.decode_tokens, shape.num_decode_tokens, shape.positions,
            shape.slots, slopes_[index], kv, decode_splits_, decode_stores,
            reinterpret_cast<float*>(scratch_ + decode_offset), result(0).data, result(0).dtype,
            stream);
      }
      break;
    }
    default:
      return absl::UnimplementedError(absl::StrCat(
          "kernel ", plan::EnumNameKernel(instruction.kernel_type()), " has no CUDA implementation"));
  }
  return CudaStatus(error, absl::StrCat(plan::EnumNameKernel(instruction.kernel_type()), " launch"));
}

}  // namespace bloom
