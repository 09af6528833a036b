// How a quantized linear weight is stored: integer values plus scales (and
// optionally zero points) that are tensors of their own, named here. The
// weight is [out, in] (rows are output channels, columns input features):
//
//   w[o][i] = scale[o][i / g] * (q[o][i] - zero[o][i / g])
//
// where g is the group size along the input dimension (g = in when
// group_size is 0: one group per output channel), q the stored values, and
// zero 0 when there are no zero points. Scales and zero points are [out,
// in / g], row-major. Zero points are int8 whatever the values' dtype (one
// byte each: a g128 zero point costs 1/128 byte per weight, and int8 needs
// no second packing rule), holding integers in the values' range.
//
// Keeping scales and zero points as separate tensors means the checkpoint,
// the plan and the memory planner see plain tensors with a dtype and a
// shape each; only the dequantizing kernels read the three together.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "runtime/support/dtype.h"

namespace bloom {

struct QuantizedStorage {
  DType values = DType::kI8;        // kI8 or kI4 (packed_int4.h)
  int64_t group_size = 0;           // along the input dimension; 0: per output channel
  DType scale_dtype = DType::kF16;  // kF16, kBF16 or kF32
  std::string scales;               // the scale tensor's name
  std::string zero_points;          // the zero-point tensor's name; empty: symmetric
};

// Checks `storage` for a weight of `weight_shape`: the values' dtype is an
// integer quantized dtype, the weight is 2-D with positive dimensions whose
// rows fill whole bytes, the group size divides the input dimension (and,
// for int4, is even, so each group starts on a byte), the scales are a
// float dtype, and the scale and zero-point tensors are named and distinct.
// Errors name `what` and the first thing wrong.
absl::Status ValidateQuantizedStorage(const QuantizedStorage& storage,
                                      absl::Span<const int64_t> weight_shape,
                                      absl::string_view what);

// The input dimension's groups per row: in / group_size, or 1 for a
// per-channel storage. `storage` is valid for `weight_shape`.
int64_t GroupsPerRow(const QuantizedStorage& storage, absl::Span<const int64_t> weight_shape);

// The scale (and zero-point) tensors' shape: [out, GroupsPerRow].
std::vector<int64_t> ScaleShape(const QuantizedStorage& storage,
                                absl::Span<const int64_t> weight_shape);

// A tensor-parallel slice [begin, end) of dimension `dim` of the weight
// keeps whole groups: a row slice always does; a column slice must begin
// and end on group boundaries (and a per-channel storage cannot be split
// along its columns at all, its one group being the whole row). Errors
// name `what`.
absl::Status CheckSliceKeepsGroups(const QuantizedStorage& storage,
                                   absl::Span<const int64_t> weight_shape, int dim, int64_t begin,
                                   int64_t end, absl::string_view what);

}  // namespace bloom
