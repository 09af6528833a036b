#include "kernels/cuda/kv_store.cuh"

#include "kernels/cuda/cuda_dtype.cuh"

namespace bloom::cuda {
namespace {

// One block per (token, head); the row is copied as raw bytes (the cache's
// dtype is qkv's), 4 bytes at a time when head_dim allows.
__global__ void KvStoreKernel(const char* qkv, const int32_t* positions, const int32_t* slots,
                              PagedKvView kv, int element_bytes) {
  const int64_t t = blockIdx.x;
  const int32_t head = blockIdx.y;
  const int32_t slot = slots[t];
  if (slot < 0) return;
  const int64_t row_bytes = static_cast<int64_t>(kv.num_heads) * 3 * kv.head_dim * element_bytes;
  const int64_t head_bytes = static_cast<int64_t>(kv.head_dim) * element_bytes;
  const char* k = qkv + t * row_bytes + (3 * head + 1) * head_bytes;
  const char* v = k + head_bytes;
  const int64_t offset = PagedOffset(kv, slot, positions[t], head) * element_bytes;
  char* k_dst = static_cast<char*>(kv.keys) + offset;
  char* v_dst = static_cast<char*>(kv.values) + offset;
  if (head_bytes % 4 == 0) {
    for (int64_t i = threadIdx.x; i < head_bytes / 4; i += blockDim.x) {
      reinterpret_cast<uint32_t*>(k_dst)[i] = reinterpret_cast<const uint32_t*>(k)[i];
      reinterpret_cast<uint32_t*>(v_dst)[i] = reinterpret_cast<const uint32_t*>(v)[i];
    }
  } else {
    for (int64_t i = threadIdx.x; i < head_bytes; i += blockDim.x) {
      k_dst[i] = k[i];
      v_dst[i] = v[i];
    }
  }
}

}  // namespace

cudaError_t LaunchKvStore(const void* qkv, const int32_t* positions, const int32_t* slots,
                          int64_t num_tokens, const PagedKvView& kv, cudaStream_t stream) {
  if (num_tokens <= 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>(num_tokens), static_cast<unsigned>(kv.num_heads));
  KvStoreKernel<<<grid, 64, 0, stream>>>(static_cast<const char*>(qkv), positions, slots, kv,
                                         static_cast<int>(DTypeSize(kv.dtype)));
  return cudaGetLastError();
}

}  // namespace bloom::cuda
