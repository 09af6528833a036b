// A slice of a stored tensor: the part [begin, end) of one dimension of a
// row-major tensor, the unit in which every reader of checkpoint weights
// takes them (a tensor-parallel rank takes its rows or columns; a whole
// tensor is the slice of dimension -1). The slice is a set of equal
// contiguous runs, one per index of the dimensions before the sliced one:
// one run for a row slice, one per row for a column slice.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "runtime/support/dtype.h"

namespace bloom {

struct TensorSlice {
  int64_t outer = 1;   // product of the dimensions before the sliced one
  int64_t extent = 1;  // the sliced dimension's size
  int64_t inner = 1;   // product of the dimensions after it
  int64_t begin = 0, end = 1;

  // Elements per run and in the whole slice.
  uint64_t RunElements() const { return static_cast<uint64_t>(end - begin) * inner; }
  uint64_t Elements() const { return static_cast<uint64_t>(outer) * RunElements(); }
  // Row-major index, in the stored tensor, of run `o`'s first element.
  uint64_t RunStart(int64_t o) const { return (static_cast<uint64_t>(o) * extent + begin) * inner; }
};

// The slice [begin, end) of dimension `dim` of a tensor of `shape`; `dim`
// -1 is the whole tensor (begin and end ignored). Errors name `what`.
absl::StatusOr<TensorSlice> MakeTensorSlice(absl::Span<const int64_t> shape, int dim, int64_t begin,
                                            int64_t end, absl::string_view what);

// Copies the slice [begin, end) of dimension `dim` of a stored tensor
// (`dtype`, row-major `shape`, raw bytes `data`) into `dst` as float32,
// reading only the slice's bytes. `dst` must hold exactly the slice.
absl::Status ReadTensorSliceAsFloat32(DType dtype, absl::Span<const int64_t> shape,
                                      absl::Span<const uint8_t> data, int dim, int64_t begin,
                                      int64_t end, absl::Span<float> dst, absl::string_view what);

// A float dtype is one a weight can be read from as float32.
absl::Status CheckReadableAsFloat32(DType dtype, absl::string_view what);

}  // namespace bloom
