#include "kernels/cpu/quantized_linear.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/linear.h"

namespace bloom::cpu {
namespace {

// QuantizedLinear dequantizes this many floats of the weight at a time per
// thread (1 MiB), and at least kMinBlockRows rows (cpu::Linear's register
// tile is 4 outputs wide) and at most kMaxBlockRows (its column panel).
constexpr int64_t kBlockFloats = int64_t{1} << 18;
constexpr int64_t kMinBlockRows = 4;
constexpr int64_t kMaxBlockRows = 64;

// out[i] = scale * float(q[i] - zero) for one group of n int8 values.
void DequantizeInt8Group(const int8_t* q, int64_t n, float scale, int zero, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = scale * static_cast<float>(q[i] - zero);
}

// A 4-bit two's complement nibble's value: flipping the sign bit maps
// -8..7 onto 0..15 in order, so subtracting 8 undoes it (as Int4At does).
inline int Int4Value(unsigned nibble) { return static_cast<int>(nibble ^ 0x8u) - 8; }

// The same for n (even) int4 values packed in n / 2 bytes, the even
// element in the low nibble.
void DequantizeInt4Group(const uint8_t* bytes, int64_t n, float scale, int zero, float* out) {
  for (int64_t j = 0; j < n / 2; ++j) {
    const int low = Int4Value(bytes[j] & 0xFu);
    const int high = Int4Value(bytes[j] >> 4);
    out[2 * j] = scale * static_cast<float>(low - zero);
    out[2 * j + 1] = scale * static_cast<float>(high - zero);
  }
}

}  // namespace

void DequantizeRows(const QuantizedWeightView& w, int64_t begin, int64_t end, float* out) {
  const int64_t groups = w.cols / w.group_size;
  for (int64_t r = begin; r < end; ++r) {
    float* row_out = out + (r - begin) * w.cols;
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t group = r * groups + g;
      const int64_t first = r * w.cols + g * w.group_size;  // element index in the weight
      const int zero = w.zero_points != nullptr ? w.zero_points[group] : 0;
      float* group_out = row_out + g * w.group_size;
      if (w.values_type == QuantizedValues::kInt8) {
        DequantizeInt8Group(static_cast<const int8_t*>(w.values) + first, w.group_size,
                            w.scales[group], zero, group_out);
      } else {
        DequantizeInt4Group(static_cast<const uint8_t*>(w.values) + first / 2, w.group_size,
                            w.scales[group], zero, group_out);
      }
    }
  }
}

void QuantizedLinear(const float* x, const QuantizedWeightView& w, const float* bias,
                     int64_t x_rows, float* y) {
  const int64_t block_rows = std::clamp(kBlockFloats / w.cols, kMinBlockRows, kMaxBlockRows);
  const int64_t num_blocks = (w.rows + block_rows - 1) / block_rows;
#pragma omp parallel if (x_rows * w.cols * w.rows > (1 << 18))
  {
    // Each thread's scratch: a block of dequantized rows and its outputs.
    std::vector<float> weight_block;
    std::vector<float> y_block;
#pragma omp for schedule(dynamic)
    for (int64_t b = 0; b < num_blocks; ++b) {
      const int64_t begin = b * block_rows;
      const int64_t rows = std::min(block_rows, w.rows - begin);
      weight_block.resize(rows * w.cols);
      y_block.resize(x_rows * rows);
      DequantizeRows(w, begin, begin + rows, weight_block.data());
      Linear(x, weight_block.data(), bias != nullptr ? bias + begin : nullptr, x_rows, w.cols, rows,
             y_block.data());
      for (int64_t n = 0; n < x_rows; ++n) {
        std::copy(y_block.begin() + n * rows, y_block.begin() + (n + 1) * rows,
                  y + n * w.rows + begin);
      }
    }
  }
}

void QuantizedEmbeddingGather(const int32_t* token_ids, int64_t num_tokens,
                              const QuantizedWeightView& table, int64_t vocab_begin, float* out) {
#pragma omp parallel for if (num_tokens * table.cols > 65536)
  for (int64_t t = 0; t < num_tokens; ++t) {
    const int64_t row = static_cast<int64_t>(token_ids[t]) - vocab_begin;
    float* dst = out + t * table.cols;
    if (row >= 0 && row < table.rows) {
      DequantizeRows(table, row, row + 1, dst);
    } else {
      std::fill(dst, dst + table.cols, 0.0f);
    }
  }
}

}  // namespace bloom::cpu
