// Greedy sampling on the GPU: the index of each logit row's largest value,
// so the generator's greedy path copies R ints back instead of R × vocab
// floats.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace bloom::cuda {

// out[r] = argmax over c of logits[r, c] for r in [0, rows); the first index
// on ties, as torch.argmax and the CPU generator's ArgMax. NaNs are skipped
// (a row of only NaNs gives 0).
cudaError_t LaunchArgMax(const float* logits, int64_t rows, int64_t cols, int32_t* out,
                         cudaStream_t stream);

}  // namespace bloom::cuda
