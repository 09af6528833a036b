#include "kernels/cpu/gelu.h"

#include <cmath>

namespace bloom::cpu {

void GeluTanh(const float* x, int64_t count, float* y) {
#pragma omp parallel for if (count > 65536)
  for (int64_t i = 0; i < count; ++i) {
    const float v = x[i];
    y[i] = v * 0.5f * (1.0f + std::tanh(0.79788456f * v * (1.0f + 0.044715f * v * v)));
  }
}

}  // namespace bloom::cpu
