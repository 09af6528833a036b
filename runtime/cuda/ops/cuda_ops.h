// The CUDA backend's ops, one file per plan kernel (runtime/cuda/ops/*.cpp).
// Each factory makes the op of instruction `index`, refusing with
// Unimplemented (naming the instruction) what the CUDA kernels cannot run.
#pragma once

#include <cstddef>
#include <memory>

#include "absl/status/statusor.h"
#include "runtime/cuda/cuda_op.h"

namespace bloom::cuda_ops {

using OpOrError = absl::StatusOr<std::unique_ptr<CudaOp>>;

OpOrError MakeEmbeddingGather(const CudaOpContext& context, size_t index);
OpOrError MakeLayerNorm(const CudaOpContext& context, size_t index);
OpOrError MakeAddLayerNorm(const CudaOpContext& context, size_t index);
OpOrError MakeLinear(const CudaOpContext& context, size_t index);
// A Linear whose weight is quantized (plan.fbs's WeightQuantization);
// MakeLinear passes such instructions on.
OpOrError MakeQuantizedLinear(const CudaOpContext& context, size_t index);
OpOrError MakeGelu(const CudaOpContext& context, size_t index);
OpOrError MakeAdd(const CudaOpContext& context, size_t index);
OpOrError MakeCast(const CudaOpContext& context, size_t index);
OpOrError MakeGatherRows(const CudaOpContext& context, size_t index);
OpOrError MakeAlibiAttention(const CudaOpContext& context, size_t index);
OpOrError MakeAllReduce(const CudaOpContext& context, size_t index);
OpOrError MakeAllGather(const CudaOpContext& context, size_t index);

// Unimplemented unless operand 0's rows are narrow enough for the layer norm
// kernels (LayerNorm and AddLayerNorm).
absl::Status CheckLayerNormColumns(const CudaOpContext& context, size_t index);

// The status of a kernel launch: "<Kernel> launch: <CUDA error>" on failure.
// The message is built only then, so a step's launches format nothing.
absl::Status LaunchStatus(cudaError_t error, const plan::Instruction& instruction);

}  // namespace bloom::cuda_ops
