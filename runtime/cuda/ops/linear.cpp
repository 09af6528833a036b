// Linear: y = epilogue(x · Wᵀ + bias) through the shared cuBLASLt GEMM
// (kernels/cuda/gemm.cuh). cuBLASLt takes x and W of one dtype and y of
// that dtype or F32; any other mix is run in float32: x cast into scratch
// first, W (and the bias) converted once at load, the product written to
// scratch and cast into y.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cast.cuh"
#include "kernels/cuda/gemm.cuh"
#include "runtime/cuda/converted_weights.h"
#include "runtime/cuda/cuda_status.h"
#include "runtime/cuda/ops/cuda_ops.h"
#include "runtime/support/status_macros.h"

namespace bloom::cuda_ops {
namespace {

class LinearOp : public CudaOp {
 public:
  LinearOp(const CudaOpContext& context, const plan::Instruction& instruction)
      : gemm_(*context.gemm),
        converted_(*context.converted),
        x_rows_(context.plan_tensor(instruction.operands()->Get(0))),
        weight_id_(instruction.operands()->Get(1)),
        bias_id_(instruction.operands()->size() > 2 ? instruction.operands()->Get(2) : 0),
        x_(context.tensor(instruction.operands()->Get(0))),
        w_(context.tensor(weight_id_)),
        y_(context.tensor(instruction.results()->Get(0))) {
    compute_ = x_.dtype == w_.dtype ? x_.dtype : DType::kF32;
    cast_x_ = x_.dtype != compute_;
    gemm_out_ = cuda::LinearGemm::Supports(compute_, compute_, y_.dtype) ? y_.dtype : DType::kF32;
    out_via_scratch_ = gemm_out_ != y_.dtype;
    weight_ = w_.data;
    if (instruction.operands()->size() > 2) {
      has_bias_ = true;
      bias_dtype_ = context.tensor(bias_id_).dtype;
      bias_ = context.tensor(bias_id_).data;
    }
    max_rows_ = MaxRows(x_rows_, *context.plan->limits());
    gelu_ = instruction.kernel_as_Linear()->epilogue() == plan::Epilogue::Gelu;
  }

  size_t ScratchBytes(ScratchRegion region) const override {
    switch (region) {
      case ScratchRegion::kLinearInput:
        return cast_x_ ? max_rows_ * x_.columns * DTypeSize(compute_) : 0;
      case ScratchRegion::kLinearOutput:
        return out_via_scratch_ ? max_rows_ * y_.columns * sizeof(float) : 0;
      case ScratchRegion::kAttentionDecode:
      case ScratchRegion::kCollective:
      case ScratchRegion::kDequantizedWeight:
      case ScratchRegion::kQuantizedPartials:
        return 0;
    }
    return 0;
  }

  absl::Status Prepare(const CudaOpResources& resources) override {
    x_scratch_ = resources.region(ScratchRegion::kLinearInput);
    out_scratch_ = resources.region(ScratchRegion::kLinearOutput);
    if (w_.dtype != compute_) {
      BLOOM_ASSIGN_OR_RETURN(weight_, converted_.Get(weight_id_, compute_, resources));
    }
    if (has_bias_ && bias_dtype_ != gemm_out_) {
      BLOOM_ASSIGN_OR_RETURN(bias_, converted_.Get(bias_id_, gemm_out_, resources));
    }
    return absl::OkStatus();
  }

  absl::Status Run(const StepShape& shape, cudaStream_t stream) override {
    cuda::GemmProblem problem;
    problem.rows = RowsAt(x_rows_, shape.rows());
    problem.in_features = x_.columns;
    problem.out_features = y_.columns;
    problem.x_dtype = problem.w_dtype = compute_;
    problem.y_dtype = gemm_out_;
    problem.has_bias = bias_ != nullptr;
    problem.gelu = gelu_;
    const void* x_data = x_.data;
    if (cast_x_) {
      BLOOM_CUDA_RETURN_IF_ERROR(cuda::LaunchCast(x_.data, x_.dtype, problem.rows * x_.columns,
                                                  x_scratch_, compute_, stream),
                                 "casting a Linear's input");
      x_data = x_scratch_;
    }
    void* y_data = out_via_scratch_ ? out_scratch_ : y_.data;
    const cublasStatus_t status = gemm_.Run(problem, x_data, weight_, bias_, y_data, stream);
    if (status != CUBLAS_STATUS_SUCCESS) {
      return CublasStatus(
          status, absl::StrCat("cublasLtMatmul [", problem.rows, " x ", problem.in_features,
                               "] x [", problem.out_features, " x ", problem.in_features, "]ᵀ"));
    }
    if (out_via_scratch_) {
      BLOOM_CUDA_RETURN_IF_ERROR(cuda::LaunchCast(y_data, DType::kF32, problem.rows * y_.columns,
                                                  y_.data, y_.dtype, stream),
                                 "casting a Linear's output");
    }
    return absl::OkStatus();
  }

 private:
  cuda::LinearGemm& gemm_;
  ConvertedWeights& converted_;
  const plan::Tensor& x_rows_;
  const uint32_t weight_id_, bias_id_;
  const DeviceTensor x_, w_, y_;
  DType compute_ = DType::kF32;   // dtype of both GEMM operands
  DType gemm_out_ = DType::kF32;  // dtype the GEMM writes
  bool cast_x_ = false;           // x converted to `compute_` in scratch first
  bool out_via_scratch_ = false;  // GEMM into scratch, then cast to y
  bool has_bias_ = false;
  DType bias_dtype_ = DType::kF32;
  bool gelu_ = false;
  int64_t max_rows_ = 0;
  const void* weight_ = nullptr;  // in `compute_`
  const void* bias_ = nullptr;    // in `gemm_out_`, or null
  uint8_t* x_scratch_ = nullptr;
  uint8_t* out_scratch_ = nullptr;
};

}  // namespace

OpOrError MakeLinear(const CudaOpContext& context, size_t index) {
  const plan::Instruction& instruction = *context.plan->instructions()->Get(index);
  if (instruction.kernel_as_Linear()->quantization() != nullptr) {
    return MakeQuantizedLinear(context, index);
  }
  return std::make_unique<LinearOp>(context, *context.plan->instructions()->Get(index));
}

}  // namespace bloom::cuda_ops
