// The current device's multiprocessor count, which the persistent and
// one-wave grids (gemv.cu, attention_decode_warp.cu, quantized_gemm.cu)
// are sized by. An attribute query does no stream work, so a launcher may
// call it while a CUDA graph is being captured.
#pragma once

#include <cuda_runtime.h>

namespace bloom::cuda {

inline cudaError_t CurrentDeviceSmCount(int* sms) {
  int device = 0;
  const cudaError_t error = cudaGetDevice(&device);
  if (error != cudaSuccess) return error;
  return cudaDeviceGetAttribute(sms, cudaDevAttrMultiProcessorCount, device);
}

}  // namespace bloom::cuda
