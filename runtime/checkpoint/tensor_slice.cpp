#include "runtime/checkpoint/tensor_slice.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "runtime/support/status_macros.h"

namespace bloom {

absl::StatusOr<TensorSlice> MakeTensorSlice(absl::Span<const int64_t> shape, int dim, int64_t begin,
                                            int64_t end, absl::string_view what) {
  TensorSlice slice;
  if (dim == -1) {
    for (int64_t d : shape) slice.extent *= d;
    slice.begin = 0;
    slice.end = slice.extent;
    return slice;
  }
  if (dim < 0 || static_cast<size_t>(dim) >= shape.size() || begin < 0 || end <= begin ||
      end > shape[dim]) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": slice [", begin, ", ", end,
                                                   ") of dimension ", dim,
                                                   " is outside the stored tensor"));
  }
  for (int i = 0; i < dim; ++i) slice.outer *= shape[i];
  for (size_t i = dim + 1; i < shape.size(); ++i) slice.inner *= shape[i];
  slice.extent = shape[dim];
  slice.begin = begin;
  slice.end = end;
  return slice;
}

absl::Status CheckReadableAsFloat32(DType dtype, absl::string_view what) {
  if (IsFloatingDType(dtype)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": dtype ", std::string(DTypeName(dtype)), " cannot be read as float32"));
}

absl::Status ReadTensorSliceAsFloat32(DType dtype, absl::Span<const int64_t> shape,
                                      absl::Span<const uint8_t> data, int dim, int64_t begin,
                                      int64_t end, absl::Span<float> dst, absl::string_view what) {
  BLOOM_RETURN_IF_ERROR(CheckReadableAsFloat32(dtype, what));
  BLOOM_ASSIGN_OR_RETURN(TensorSlice slice, MakeTensorSlice(shape, dim, begin, end, what));
  const size_t element = DTypeSize(dtype);
  if (static_cast<uint64_t>(slice.outer) * slice.extent * slice.inner * element != data.size() ||
      slice.Elements() != dst.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": slice of ", dst.size(), " elements does not fit the stored tensor"));
  }
  const uint64_t run = slice.RunElements();
  for (int64_t o = 0; o < slice.outer; ++o) {
    ConvertToFloat32(dtype, data.data() + slice.RunStart(o) * element, dst.data() + o * run, run);
  }
  return absl::OkStatus();
}

}  // namespace bloom
