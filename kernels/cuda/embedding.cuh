// Token embedding lookup on the GPU.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "runtime/support/dtype.h"

namespace bloom::cuda {

// out[t, :] = table[token_ids[t] - vocab_begin, :] for t in [0, num_tokens);
// a zero row where the id falls outside this table's rows [vocab_begin,
// vocab_begin + rows) (a vocab-parallel shard). token_ids is in device
// memory; ids outside the full vocabulary are refused on the host.
cudaError_t LaunchEmbeddingGather(const int32_t* token_ids, int64_t num_tokens, const void* table,
                                  DType table_dtype, int64_t rows, int64_t vocab_begin,
                                  int64_t hidden, void* out, DType out_dtype, cudaStream_t stream);

}  // namespace bloom::cuda
