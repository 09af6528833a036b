// Linear with a quantized weight (plan.fbs: operands x, values, scales
// [, zero points] [, bias]): y = epilogue(x · w'ᵀ + bias).
//
// Up to kFusedMaxRows rows (decode and small batches, bf16 or f16 x) the
// dequantization is fused into the weight read (kernels/cuda/
// quantized_gemm.cuh): the step streams the quantized bytes once per 16
// rows. Above that, and for f32 activations, the weight is dequantized
// into scratch in x's dtype and the product is cuBLASLt's, as for a float
// weight (kernels/cuda/quantized_scratch_gemm.cuh): one extra pass over the
// weight, small against a large batch's arithmetic.
#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cast.cuh"
#include "kernels/cuda/dequantize.cuh"
#include "kernels/cuda/gemm.cuh"
#include "kernels/cuda/quantized_gemm.cuh"
#include "kernels/cuda/quantized_scratch_gemm.cuh"
#include "runtime/cuda/cuda_status.h"
#include "runtime/cuda/ops/cuda_ops.h"
#include "runtime/cuda/quantized_weights.h"
#include "runtime/support/status_macros.h"

namespace bloom::cuda_ops {
namespace {

// Rows the fused product takes before dequantizing into scratch pays: it
// reads the quantized weight once per 32 rows (16 for int4 groups finer
// than a tile). Measured on the H200 at BLOOM-7b1's and 176B's shapes
// (benchmarks/gpu/results/h200/quantized_gemm.jsonl), the two meet at 64
// rows (int4 7b1 QKV: 72 us fused, 69 us through scratch) and the scratch
// path wins by 2x at 128.
constexpr int64_t kFusedMaxRows = 64;

class QuantizedLinearOp : public CudaOp {
 public:
  QuantizedLinearOp(const CudaOpContext& context, const plan::Instruction& instruction)
      : instruction_(instruction),
        gemm_(*context.gemm),
        x_rows_(context.plan_tensor(instruction.operands()->Get(0))),
        x_(context.tensor(instruction.operands()->Get(0))),
        y_(context.tensor(instruction.results()->Get(0))) {
    const auto* params = instruction.kernel_as_Linear();
    weight_ = DeviceQuantizedWeight(context, instruction, 1);
    const size_t bias_index = params->quantization()->format() == plan::WeightFormat::Int4Grouped
                                  ? 4
                                  : 3;
    if (instruction.operands()->size() > bias_index) {
      bias_ = context.tensor(instruction.operands()->Get(bias_index));
      has_bias_ = true;
    }
    gelu_ = params->epilogue() == plan::Epilogue::Gelu;
    max_rows_ = MaxRows(x_rows_, *context.plan->limits());
    fused_x_ = x_.dtype == DType::kBF16 || x_.dtype == DType::kF16;
    // The scratch path: cuBLASLt on the dequantized weight in x's dtype,
    // writing y's dtype when it takes the mix, else f32 then a cast.
    gemm_out_ = cuda::LinearGemm::Supports(x_.dtype, x_.dtype, y_.dtype) ? y_.dtype : DType::kF32;
  }

  size_t ScratchBytes(ScratchRegion region) const override {
    switch (region) {
      case ScratchRegion::kDequantizedWeight:
        return UsesScratchPath(max_rows_)
                   ? cuda::QuantizedScratchBytes(weight_.out_features, weight_.in_features, x_.dtype)
                   : 0;
      case ScratchRegion::kQuantizedPartials:
        return fused_x_ ? cuda::QuantizedGemmWorkspaceBytes(weight_.out_features) : 0;
      case ScratchRegion::kLinearOutput:
        return UsesScratchPath(max_rows_) && gemm_out_ != y_.dtype
                   ? max_rows_ * y_.columns * sizeof(float)
                   : 0;
      case ScratchRegion::kLinearInput:
      case ScratchRegion::kAttentionDecode:
      case ScratchRegion::kCollective:
        return 0;
    }
    return 0;
  }

  absl::Status Prepare(const CudaOpResources& resources) override {
    dequantized_ = resources.region(ScratchRegion::kDequantizedWeight);
    out_scratch_ = resources.region(ScratchRegion::kLinearOutput);
    partials_ = resources.region(ScratchRegion::kQuantizedPartials);
    partials_bytes_ = fused_x_ ? cuda::QuantizedGemmWorkspaceBytes(weight_.out_features) : 0;
    if (has_bias_ && bias_.dtype != y_.dtype) {
      return absl::UnimplementedError(absl::StrCat(
          "Linear of a quantized weight: its bias is ", std::string(DTypeName(bias_.dtype)), " but y is ",
          std::string(DTypeName(y_.dtype)), " (the kernels take the bias in y's dtype)"));
    }
    if (UsesScratchPath(max_rows_) && gemm_out_ != y_.dtype && (has_bias_ || gelu_)) {
      return absl::UnimplementedError(absl::StrCat(
          "Linear of a quantized weight with ", std::string(DTypeName(x_.dtype)), " x and ",
          std::string(DTypeName(y_.dtype)), " y: cuBLASLt writes f32 there, and the bias or GELU would have "
          "to follow the cast"));
    }
    // The fused product keeps its partial sums zero between launches; they
    // start zeroed (every quantized Linear shares the region).
    if (partials_bytes_ > 0) {
      BLOOM_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(partials_, 0, partials_bytes_, resources.stream),
                                 "zeroing the quantized product's partial sums");
    }
    return absl::OkStatus();
  }

  absl::Status Run(const StepShape& shape, cudaStream_t stream) override {
    cuda::GemmProblem problem;
    problem.rows = RowsAt(x_rows_, shape.rows());
    problem.in_features = weight_.in_features;
    problem.out_features = weight_.out_features;
    problem.x_dtype = x_.dtype;
    problem.w_dtype = weight_.format;
    problem.y_dtype = y_.dtype;
    problem.has_bias = has_bias_;
    problem.gelu = gelu_;
    if (!UsesScratchPath(problem.rows)) {
      return LaunchStatus(
          cuda::LaunchQuantizedGemm(problem, weight_, x_.data, has_bias_ ? bias_.data : nullptr,
                                    y_.data, partials_, partials_bytes_, stream),
          instruction_);
    }
    problem.w_dtype = x_.dtype;
    problem.y_dtype = gemm_out_;
    const bool via_scratch = gemm_out_ != y_.dtype;
    // A bias in y's dtype only serves a product written in y's dtype.
    problem.has_bias = has_bias_ && !via_scratch;
    void* y_data = via_scratch ? out_scratch_ : y_.data;
    const cuda::QuantizedScratchStatus status =
        cuda::RunQuantizedScratchGemm(gemm_, problem, weight_, x_.data, problem.has_bias ? bias_.data : nullptr,
                                      y_data, dequantized_, /*chunk_rows=*/0, stream);
    if (status.dequantize != cudaSuccess) return LaunchStatus(status.dequantize, instruction_);
    if (status.gemm != CUBLAS_STATUS_SUCCESS) {
      return CublasStatus(status.gemm, absl::StrCat("cublasLtMatmul on the dequantized [", problem.out_features,
                                                    " x ", problem.in_features, "] weight"));
    }
    if (via_scratch) {
      BLOOM_CUDA_RETURN_IF_ERROR(cuda::LaunchCast(y_data, DType::kF32, problem.rows * y_.columns,
                                                  y_.data, y_.dtype, stream),
                                 "casting a quantized Linear's output");
    }
    return absl::OkStatus();
  }

 private:
  bool UsesScratchPath(int64_t rows) const { return !fused_x_ || rows > kFusedMaxRows; }

  const plan::Instruction& instruction_;
  cuda::LinearGemm& gemm_;
  const plan::Tensor& x_rows_;
  const DeviceTensor x_, y_;
  DeviceTensor bias_;
  cuda::QuantizedWeight weight_;
  bool has_bias_ = false;
  bool gelu_ = false;
  bool fused_x_ = false;          // x is bf16 or f16: the fused product takes it
  DType gemm_out_ = DType::kF32;  // what cuBLASLt writes on the scratch path
  int64_t max_rows_ = 0;
  uint8_t* dequantized_ = nullptr;
  uint8_t* out_scratch_ = nullptr;
  uint8_t* partials_ = nullptr;
  size_t partials_bytes_ = 0;
};

}  // namespace

OpOrError MakeQuantizedLinear(const CudaOpContext& context, size_t index) {
  return std::make_unique<QuantizedLinearOp>(context, *context.plan->instructions()->Get(index));
}

}  // namespace bloom::cuda_ops
