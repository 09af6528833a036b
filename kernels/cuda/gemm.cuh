// The plan's Linear op through cuBLASLt: y[N, M] = epilogue(x[N, K] · Wᵀ +
// bias) with W in the checkpoint's [M, K] layout, fp32 accumulation, and the
// bias and GELU epilogues fused where cuBLASLt has them for the dtype mix
// (otherwise a small kernel applies them after the product).
//
// Matrix descriptors and the heuristic's algorithm are cached per problem
// (shape, dtypes, epilogue, pointer alignment), so a step after the first
// does no descriptor work, and a CUDA graph capture sees only launches.
//
// Problems of at most GemmOptions::gemv_max_rows rows (kDefaultGemvRows
// unless the caller says otherwise, 0 to kGemvMaxRows) with 16-bit operands
// go to the GEMV kernel (kernels/cuda/gemv.cuh) instead. On the H100 the
// GEMV streams the weights faster than cuBLASLt's split-K kernels at 1 row
// (BLOOM-7b1 decode 6.37 against 6.86 ms) but slower at 8 (7.91 against
// 7.01 ms: its fp32 FMAs per weight byte grow with the rows). With
// GemmOptions::tune the first run of a problem outside stream capture times
// up to kTuneCandidates of the heuristic's algorithms on the real operands
// and keeps the fastest.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "runtime/support/dtype.h"

namespace bloom::cuda {

struct GemmProblem {
  int64_t rows = 0;          // N: rows of x and y (tokens)
  int64_t in_features = 0;   // K
  int64_t out_features = 0;  // M
  DType x_dtype = DType::kF32;
  DType w_dtype = DType::kF32;
  DType y_dtype = DType::kF32;
  bool has_bias = false;     // the bias is stored in y_dtype
  bool gelu = false;         // BLOOM's tanh GELU after the bias, before rounding
  // Elements from one row of y to the next; 0 means out_features. A
  // larger stride writes a column slice of a wider y (the quantized
  // scratch path's chunks of output features); such products skip the GEMV.
  int64_t y_stride = 0;
};

// The GEMM's implementation choices (the executor's options; tools set
// them from flags).
struct GemmOptions {
  int64_t gemv_max_rows = 4;  // LinearGemm::kDefaultGemvRows; clamped to [0, kGemvMaxRows]
  bool tune = false;          // time the heuristic's candidates on first use
};

class LinearGemm {
 public:
  LinearGemm() = default;
  ~LinearGemm();
  LinearGemm(const LinearGemm&) = delete;
  LinearGemm& operator=(const LinearGemm&) = delete;

  // Creates the cuBLASLt handle; `workspace` (device memory of
  // `workspace_bytes`) is shared by every product this object runs.
  cublasStatus_t Init(void* workspace, size_t workspace_bytes,
                      const GemmOptions& options = GemmOptions());

  // Whether cuBLASLt takes this dtype mix directly: x and W of one dtype,
  // y of that dtype or F32 (F32 x and W only with F32 y). The caller
  // converts anything else (see runtime/cuda).
  static bool Supports(DType x_dtype, DType w_dtype, DType y_dtype);

  // Runs the product on `stream`. bias is null when !problem.has_bias.
  // Returns CUBLAS_STATUS_NOT_SUPPORTED for a dtype mix Supports() refuses
  // or when cuBLASLt has no algorithm for the problem.
  cublasStatus_t Run(const GemmProblem& problem, const void* x, const void* w, const void* bias,
                     void* y, cudaStream_t stream);

  static constexpr int64_t kDefaultGemvRows = 4;
  static_assert(GemmOptions().gemv_max_rows == kDefaultGemvRows);
  // Overrides the GEMV limit (tests run every row count both ways).
  void set_gemv_max_rows(int64_t rows) { gemv_max_rows_ = rows; }

  // Whether Run takes `problem` to the GEMV kernel.
  bool UsesGemv(const GemmProblem& problem, const void* x, const void* w) const;

  // Whether the last Run of `problem` fused its epilogue (for tests/reports).
  bool FusedEpilogue(const GemmProblem& problem, const void* x, const void* w, const void* bias,
                     const void* y) const;

 private:
  // A prepared product: descriptors and the chosen algorithm.
  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
    cublasLtMatmulAlgo_t algo{};
    std::vector<cublasLtMatmulAlgo_t> candidates;  // the heuristic's, best first
    bool tuned = false;
    bool fused_epilogue = false;
    ~Plan();
  };
  using Key = std::tuple<int64_t, int64_t, int64_t, int, int, int, bool, bool, int, int, int, int64_t>;
  Key MakeKey(const GemmProblem& problem, const void* x, const void* w, const void* y) const;
  cublasStatus_t Prepare(const GemmProblem& problem, const Key& key, Plan** plan);
  cublasStatus_t Matmul(Plan& plan, const cublasLtMatmulAlgo_t& algo, const void* x, const void* w,
                        void* y, cudaStream_t stream);
  // Times each candidate on the operands and keeps the fastest in plan.algo.
  void Tune(Plan& plan, const void* x, const void* w, void* y, cudaStream_t stream);

  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  int64_t gemv_max_rows_ = kDefaultGemvRows;
  bool tune_ = false;
  std::map<Key, std::unique_ptr<Plan>> plans_;
};

}  // namespace bloom::cuda
