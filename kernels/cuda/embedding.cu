#include "kernels/cuda/embedding.cuh"

#include "kernels/cuda/cuda_dtype.cuh"

namespace bloom::cuda {
namespace {

// One block per token.
__global__ void EmbeddingGatherKernel(const int32_t* token_ids, const void* table,
                                      DType table_dtype, int64_t rows, int64_t vocab_begin,
                                      int64_t hidden, void* out, DType out_dtype) {
  const int64_t t = blockIdx.x;
  const int64_t row = static_cast<int64_t>(token_ids[t]) - vocab_begin;
  const bool inside = row >= 0 && row < rows;
  for (int64_t c = threadIdx.x; c < hidden; c += blockDim.x) {
    const float v = inside ? LoadFloat(table, row * hidden + c, table_dtype) : 0.0f;
    StoreFloat(out, t * hidden + c, out_dtype, v);
  }
}

}  // namespace

cudaError_t LaunchEmbeddingGather(const int32_t* token_ids, int64_t num_tokens, const void* table,
                                  DType table_dtype, int64_t rows, int64_t vocab_begin,
                                  int64_t hidden, void* out, DType out_dtype, cudaStream_t stream) {
  if (num_tokens <= 0 || hidden <= 0) return cudaSuccess;
  EmbeddingGatherKernel<<<static_cast<unsigned>(num_tokens), 256, 0, stream>>>(
      token_ids, table, table_dtype, rows, vocab_begin, hidden, out, out_dtype);
  return cudaGetLastError();
}

}  // namespace bloom::cuda
