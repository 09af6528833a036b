// The CPU reference kernels that read a quantized weight (docs/quantization.md):
// dequantizing rows, a linear layer and an embedding lookup that dequantize
// on the fly. They compute what every backend must:
//
//   w'[o][i] = scale[o][i / g] * float(q[o][i] - zero[o][i / g])   (fp32)
//
// so a quantized weight never exists as a whole float copy here either; the
// linear layer dequantizes a small block of rows at a time.
//
// The view names the values' type with an enum of its own rather than
// runtime/support's DType: kernels/cpu includes nothing outside itself
// (scripts/check_layers.py). The caller maps DType::kI8 / kI4 onto it.
#pragma once

#include <cstdint>

namespace bloom::cpu {

enum class QuantizedValues : uint8_t {
  kInt8,  // one two's complement byte a value
  kInt4,  // two a byte, low nibble first (runtime/support/packed_int4.h)
};

// A quantized [rows, cols] weight: values row-major, scales (widened to
// fp32) and zero points [rows, cols / group_size] row-major. Preconditions:
// rows >= 0, cols > 0, group_size > 0 divides cols; for int4 cols and
// group_size are even (every row and group starts on a byte).
struct QuantizedWeightView {
  QuantizedValues values_type = QuantizedValues::kInt8;
  const void* values = nullptr;
  const float* scales = nullptr;
  const int8_t* zero_points = nullptr;  // null: symmetric (zero = 0)
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t group_size = 0;  // cols for one group a row (int8 per channel)
};

// out[r - begin, :] = w'[r, :] for r in [begin, end); out is
// [end - begin, cols]. Preconditions: 0 <= begin <= end <= rows.
void DequantizeRows(const QuantizedWeightView& w, int64_t begin, int64_t end, float* out);

// y[n, o] = sum_i x[n, i] * w'[o, i] + bias[o] (bias term only if bias is
// non-null): cpu::Linear over the dequantized weight, and bit for bit what
// cpu::Linear gives on DequantizeRows of the whole weight (Linear's result
// for an output does not depend on the other outputs, so computing it a
// block of rows at a time changes no bits). x is [x_rows, cols], y
// [x_rows, rows]; y does not alias x, the weight or bias.
void QuantizedLinear(const float* x, const QuantizedWeightView& w, const float* bias,
                     int64_t x_rows, float* y);

// out[t, :] = w'[token_ids[t] - vocab_begin, :] for a table that holds rows
// [vocab_begin, vocab_begin + rows) of the vocabulary (a vocab-parallel
// shard; vocab_begin 0 for a whole table). An id outside the shard gives a
// zero row: the ranks' rows are then summed. out is [num_tokens, cols].
void QuantizedEmbeddingGather(const int32_t* token_ids, int64_t num_tokens,
                              const QuantizedWeightView& table, int64_t vocab_begin, float* out);

}  // namespace bloom::cpu
