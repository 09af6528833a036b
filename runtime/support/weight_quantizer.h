// Round-to-nearest quantization of a float weight matrix into the stored
// formats of docs/quantization.md (quantized_storage.h): symmetric int8 per
// output channel, and asymmetric int4 per group of g along the row (GPTQ's
// RTN quantizer, the published anchor for BLOOM).
//
// The rounding is a contract shared bit for bit with the CUDA kernels and
// bloom-compile --pack-weights, so it is spelled out here in plain IEEE fp32
// operations (no fused or reassociated arithmetic). For a row (int8) or a
// group (int4) of values w:
//
//   int8: amax = max |w|; scale = S(amax / 127); s = float(scale);
//         q = clamp(rint(w / s), -127, 127)
//   int4: mn = min(0, min w); mx = max(0, max w); scale = S((mx - mn) / 15);
//         s = float(scale); zero = clamp(rint(-mn / s) - 8, -8, 7);
//         q = clamp(rint(w / s) + zero, -8, 7)
//
// where rint rounds half to even and S rounds to the scale dtype (nearest
// even), saturating at its largest finite value instead of overflowing to
// infinity. A scale that rounds to 0 stores q = 0 (and zero = 0). The
// dequantized weight every kernel computes is
//
//   w' = float(scale) * float(q - zero)     (zero = 0 for int8)
//
// in fp32. Taking min(0, ·) and max(0, ·) keeps 0 representable, so zero
// padding and exact zeros in the weight dequantize to exactly 0.
//
// Rows are independent, so large matrices are split over threads by rows;
// the bytes never depend on the thread count.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "runtime/support/dtype.h"

namespace bloom {

enum class WeightFormat : uint8_t {
  kInt8PerChannel,  // int8 values, symmetric, one scale per row
  kInt4Grouped,     // packed int4 values, asymmetric, a scale and zero point per group
};

// "int8" and "int4": the spelling of bloom-compile's --weights.
std::string_view WeightFormatName(WeightFormat format);
std::optional<WeightFormat> ParseWeightFormat(std::string_view name);

// kI8 or kI4: the dtype of the format's stored values.
DType WeightFormatValues(WeightFormat format);

// A quantized [rows, cols] weight on the host, in the stored layouts: values
// row-major (int8 one a byte; int4 packed as packed_int4.h says), scales and
// zero points [rows, cols / group_size] row-major.
struct QuantizedMatrix {
  WeightFormat format = WeightFormat::kInt8PerChannel;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t group_size = 0;  // cols for int8 (one group a row)
  DType scale_dtype = DType::kF16;
  std::vector<uint8_t> values;      // StorageBytes(WeightFormatValues(format), rows * cols)
  std::vector<uint8_t> scales;      // rows * groups elements of scale_dtype
  std::vector<int8_t> zero_points;  // rows * groups; empty for int8

  int64_t GroupsPerRow() const { return group_size > 0 ? cols / group_size : 0; }
};

// Quantizes `w` ([rows, cols] row-major float32) as described above.
// `group_size` is 0 or cols for int8, and for int4 an even divisor of cols
// (which must be even); `scale_dtype` is kF16, kBF16 or kF32. `threads` caps
// the worker threads (0: the hardware's count); the result does not depend
// on it. Errors name `what`: a shape or parameter that does not fit, or the
// row and column of the first non-finite value.
absl::StatusOr<QuantizedMatrix> QuantizeWeight(absl::Span<const float> w, int64_t rows,
                                               int64_t cols, WeightFormat format,
                                               int64_t group_size, DType scale_dtype,
                                               absl::string_view what, int threads = 0);

// The same into caller-owned buffers (a loader's staging memory), sized as
// QuantizedMatrix's fields say: `values` StorageBytes bytes, `scales`
// rows * groups elements of scale_dtype, `zero_points` rows * groups for
// int4 and empty for int8. On error the buffers' contents are unspecified.
absl::Status QuantizeWeightInto(absl::Span<const float> w, int64_t rows, int64_t cols,
                                WeightFormat format, int64_t group_size, DType scale_dtype,
                                absl::Span<uint8_t> values, absl::Span<uint8_t> scales,
                                absl::Span<int8_t> zero_points, absl::string_view what,
                                int threads = 0);

// w' = float(scale) * float(q - zero) for every element, [rows, cols]
// row-major: what the kernels compute, for tests and tools.
std::vector<float> DequantizeWeight(const QuantizedMatrix& matrix);

}  // namespace bloom
