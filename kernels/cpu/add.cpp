#include "kernels/cpu/add.h"

namespace bloom::cpu {

void Add(const float* a, const float* b, int64_t count, float* out) {
#pragma omp parallel for simd if (count > 262144)
  for (int64_t i = 0; i < count; ++i) out[i] = a[i] + b[i];
}

}  // namespace bloom::cpu
