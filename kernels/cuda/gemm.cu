#include "kernels/cuda/gemm.cuh"

#include "kernels/cuda/cuda_dtype.cuh"
#include "kernels/cuda/gemv.cuh"

namespace bloom::cuda {
namespace {

// Algorithms the heuristic is asked for; only GemmOptions::tune looks past
// the first.
constexpr int kTuneCandidates = 8;
constexpr int kTuneRepeats = 3;

cudaDataType_t CudaType(DType dtype) {
  switch (dtype) {
    case DType::kF16: return CUDA_R_16F;
    case DType::kBF16: return CUDA_R_16BF;
    case DType::kF32: return CUDA_R_32F;
    // No Linear takes these today (the executor refuses integer weights);
    // named for the day one does.
    case DType::kI32: return CUDA_R_32I;
    case DType::kI8: return CUDA_R_8I;
    case DType::kI4: return CUDA_R_4I;
  }
  return CUDA_R_32F;
}

// The largest power of two (up to 256) dividing the address: what the
// heuristic may assume about the operand's alignment.
int Alignment(const void* p) {
  const uintptr_t address = reinterpret_cast<uintptr_t>(p);
  int alignment = 256;
  while (alignment > 1 && address % alignment != 0) alignment /= 2;
  return alignment;
}

// The epilogue when cuBLASLt could not fuse it: y = gelu?(y + bias), in
// fp32, y rounded to its dtype.
__global__ void BiasGeluKernel(void* y, DType y_dtype, const void* bias, int64_t rows,
                               int64_t cols, int64_t stride, bool gelu) {
  const int64_t count = rows * cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t at = i / cols * stride + i % cols;
    float v = LoadFloat(y, at, y_dtype);
    if (bias != nullptr) v += LoadFloat(bias, i % cols, y_dtype);
    if (gelu) v = GeluTanh(v);
    StoreFloat(y, at, y_dtype, v);
  }
}

int64_t YStride(const GemmProblem& p) { return p.y_stride > 0 ? p.y_stride : p.out_features; }

}  // namespace

LinearGemm::Plan::~Plan() {
  if (a != nullptr) cublasLtMatrixLayoutDestroy(a);
  if (b != nullptr) cublasLtMatrixLayoutDestroy(b);
  if (d != nullptr) cublasLtMatrixLayoutDestroy(d);
  if (desc != nullptr) cublasLtMatmulDescDestroy(desc);
}

LinearGemm::~LinearGemm() {
  plans_.clear();
  if (handle_ != nullptr) cublasLtDestroy(handle_);
}

cublasStatus_t LinearGemm::Init(void* workspace, size_t workspace_bytes,
                                const GemmOptions& options) {
  workspace_ = workspace;
  workspace_bytes_ = workspace_bytes;
  const int64_t rows = options.gemv_max_rows;
  gemv_max_rows_ = rows < 0 ? 0 : (rows > kGemvMaxRows ? kGemvMaxRows : rows);
  tune_ = options.tune;
  return handle_ != nullptr ? CUBLAS_STATUS_SUCCESS : cublasLtCreate(&handle_);
}

bool LinearGemm::Supports(DType x_dtype, DType w_dtype, DType y_dtype) {
  if (x_dtype != w_dtype || !IsFloatDType(x_dtype) || !IsFloatDType(y_dtype)) return false;
  return y_dtype == x_dtype || y_dtype == DType::kF32;
}

LinearGemm::Key LinearGemm::MakeKey(const GemmProblem& p, const void* x, const void* w,
                                    const void* y) const {
  return Key(p.rows, p.in_features, p.out_features, static_cast<int>(p.x_dtype),
             static_cast<int>(p.w_dtype), static_cast<int>(p.y_dtype), p.has_bias, p.gelu,
             Alignment(x), Alignment(w), Alignment(y), YStride(p));
}

// Column-major view of the row-major product: yᵀ[M, N] = W[M, K] · xᵀ[K, N],
// where W's row-major [M, K] is a column-major K×M matrix used transposed
// and x's row-major [N, K] is a column-major K×N matrix. cuBLASLt's bias is
// then per row of the column-major result, i.e. per output feature.
cublasStatus_t LinearGemm::Prepare(const GemmProblem& p, const Key& key, Plan** out) {
  auto plan = std::make_unique<Plan>();
  const cudaDataType_t ab_type = CudaType(p.x_dtype), d_type = CudaType(p.y_dtype);
  const uint64_t m = p.out_features, n = p.rows, k = p.in_features;
  cublasStatus_t s = cublasLtMatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
  if (s != CUBLAS_STATUS_SUCCESS) return s;
  const cublasOperation_t transpose = CUBLAS_OP_T, none = CUBLAS_OP_N;
  cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, &transpose, sizeof(transpose));
  cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, &none, sizeof(none));
  if ((s = cublasLtMatrixLayoutCreate(&plan->a, ab_type, k, m, k)) != CUBLAS_STATUS_SUCCESS) return s;
  if ((s = cublasLtMatrixLayoutCreate(&plan->b, ab_type, k, n, k)) != CUBLAS_STATUS_SUCCESS) return s;
  if ((s = cublasLtMatrixLayoutCreate(&plan->d, d_type, m, n, YStride(p))) != CUBLAS_STATUS_SUCCESS) {
    return s;
  }

  cublasLtMatmulPreference_t preference = nullptr;
  if ((s = cublasLtMatmulPreferenceCreate(&preference)) != CUBLAS_STATUS_SUCCESS) return s;
  cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                       &workspace_bytes_, sizeof(workspace_bytes_));
  const uint32_t align_x = std::get<8>(key), align_w = std::get<9>(key), align_y = std::get<10>(key);
  cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                       &align_w, sizeof(align_w));
  cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                       &align_x, sizeof(align_x));
  cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                       &align_y, sizeof(align_y));
  cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                       &align_y, sizeof(align_y));

  // Try the fused epilogue first; without an algorithm for it, fall back
  // to the plain product and BiasGeluKernel.
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  if (p.has_bias && p.gelu) epilogue = CUBLASLT_EPILOGUE_GELU_BIAS;
  else if (p.has_bias) epilogue = CUBLASLT_EPILOGUE_BIAS;
  else if (p.gelu) epilogue = CUBLASLT_EPILOGUE_GELU;
  for (int attempt = 0; attempt < 2; ++attempt) {
    cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
                                   sizeof(epilogue));
    cublasLtMatmulHeuristicResult_t results[kTuneCandidates]{};
    int found = 0;
    s = cublasLtMatmulAlgoGetHeuristic(handle_, plan->desc, plan->a, plan->b, plan->d, plan->d,
                                       preference, tune_ ? kTuneCandidates : 1, results, &found);
    if (s == CUBLAS_STATUS_SUCCESS && found > 0) {
      plan->algo = results[0].algo;
      for (int i = 0; i < found; ++i) {
        if (results[i].state == CUBLAS_STATUS_SUCCESS) plan->candidates.push_back(results[i].algo);
      }
      plan->fused_epilogue = epilogue != CUBLASLT_EPILOGUE_DEFAULT;
      break;
    }
    if (epilogue == CUBLASLT_EPILOGUE_DEFAULT) {
      cublasLtMatmulPreferenceDestroy(preference);
      return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  }
  cublasLtMatmulPreferenceDestroy(preference);
  *out = plan.get();
  plans_[key] = std::move(plan);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t LinearGemm::Matmul(Plan& plan, const cublasLtMatmulAlgo_t& algo, const void* x,
                                  const void* w, void* y, cudaStream_t stream) {
  const float alpha = 1.0f, beta = 0.0f;
  return cublasLtMatmul(handle_, plan.desc, &alpha, w, plan.a, x, plan.b, &beta, y, plan.d, y, plan.d,
                        &algo, workspace_, workspace_bytes_, stream);
}

void LinearGemm::Tune(Plan& plan, const void* x, const void* w, void* y, cudaStream_t stream) {
  cudaEvent_t start = nullptr, stop = nullptr;
  if (cudaEventCreate(&start) != cudaSuccess || cudaEventCreate(&stop) != cudaSuccess) {
    cudaGetLastError();
    if (start != nullptr) cudaEventDestroy(start);
    return;
  }
  float best_ms = -1.0f;
  for (const cublasLtMatmulAlgo_t& algo : plan.candidates) {
    if (Matmul(plan, algo, x, w, y, stream) != CUBLAS_STATUS_SUCCESS) continue;  // also a warm-up
    cudaEventRecord(start, stream);
    bool ok = true;
    for (int i = 0; i < kTuneRepeats && ok; ++i) ok = Matmul(plan, algo, x, w, y, stream) == CUBLAS_STATUS_SUCCESS;
    cudaEventRecord(stop, stream);
    float ms = 0.0f;
    if (!ok || cudaEventSynchronize(stop) != cudaSuccess || cudaEventElapsedTime(&ms, start, stop) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    if (best_ms < 0.0f || ms < best_ms) {
      best_ms = ms;
      plan.algo = algo;
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

bool LinearGemm::UsesGemv(const GemmProblem& p, const void* x, const void* w) const {
  return p.rows <= gemv_max_rows_ && YStride(p) == p.out_features && GemvSupports(p, x, w);
}

cublasStatus_t LinearGemm::Run(const GemmProblem& p, const void* x, const void* w,
                               const void* bias, void* y, cudaStream_t stream) {
  if (!Supports(p.x_dtype, p.w_dtype, p.y_dtype) || handle_ == nullptr) {
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  if (p.rows <= 0 || p.out_features <= 0) return CUBLAS_STATUS_SUCCESS;
  if (YStride(p) < p.out_features) return CUBLAS_STATUS_INVALID_VALUE;
  if (UsesGemv(p, x, w)) {
    return LaunchGemv(p, x, w, bias, y, stream) == cudaSuccess ? CUBLAS_STATUS_SUCCESS
                                                                : CUBLAS_STATUS_EXECUTION_FAILED;
  }
  const Key key = MakeKey(p, x, w, y);
  Plan* plan = nullptr;
  auto found = plans_.find(key);
  if (found != plans_.end()) {
    plan = found->second.get();
  } else if (cublasStatus_t s = Prepare(p, key, &plan); s != CUBLAS_STATUS_SUCCESS) {
    return s;
  }
  if (plan->fused_epilogue && p.has_bias) {
    cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                   sizeof(bias));
  }
  if (!plan->tuned) {
    plan->tuned = true;
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    if (tune_ && plan->candidates.size() > 1 && cudaStreamIsCapturing(stream, &capture) == cudaSuccess &&
        capture == cudaStreamCaptureStatusNone) {
      Tune(*plan, x, w, y, stream);
    }
  }
  cublasStatus_t s = Matmul(*plan, plan->algo, x, w, y, stream);
  if (s != CUBLAS_STATUS_SUCCESS || plan->fused_epilogue || !(p.has_bias || p.gelu)) return s;
  const int64_t count = p.rows * p.out_features;
  BiasGeluKernel<<<GridFor(count, 256), 256, 0, stream>>>(y, p.y_dtype, p.has_bias ? bias : nullptr,
                                                          p.rows, p.out_features, YStride(p), p.gelu);
  return cudaGetLastError() == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

bool LinearGemm::FusedEpilogue(const GemmProblem& p, const void* x, const void* w, const void* bias,
                               const void* y) const {
  (void)bias;
  if (UsesGemv(p, x, w)) return true;
  auto found = plans_.find(MakeKey(p, x, w, y));
  return found != plans_.end() && found->second->fused_epilogue;
}

}  // namespace bloom::cuda
