#include "runtime/support/quantized_storage.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace bloom {
namespace {

// DTypeName as Abseil's string_view (Debian's Abseil has its own type).
absl::string_view NameOf(DType dtype) {
  const std::string_view name = DTypeName(dtype);
  return {name.data(), name.size()};
}

absl::Status Invalid(absl::string_view what, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", problem));
}

bool IsQuantizedValueDType(DType dtype) {
  switch (dtype) {
    case DType::kI8:
    case DType::kI4:
      return true;
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kI32:
      return false;
  }
  return false;
}

}  // namespace

absl::Status ValidateQuantizedStorage(const QuantizedStorage& storage,
                                      absl::Span<const int64_t> weight_shape,
                                      absl::string_view what) {
  if (!IsQuantizedValueDType(storage.values)) {
    return Invalid(what, absl::StrCat("values dtype ", NameOf(storage.values),
                                      " is not a quantized dtype (I8 or I4)"));
  }
  if (weight_shape.size() != 2 || weight_shape[0] <= 0 || weight_shape[1] <= 0) {
    return Invalid(what, absl::StrCat("a quantized weight is [out, in] with both > 0, got [",
                                      absl::StrJoin(weight_shape, ", "), "]"));
  }
  if (absl::Status shape = CheckStorageShape(storage.values, weight_shape, what); !shape.ok()) {
    return shape;
  }
  const int64_t in = weight_shape[1];
  if (storage.group_size < 0) {
    return Invalid(what, absl::StrCat("group size ", storage.group_size, " is negative"));
  }
  if (storage.group_size > 0) {
    if (in % storage.group_size != 0) {
      return Invalid(what, absl::StrCat("group size ", storage.group_size,
                                        " does not divide the input dimension ", in));
    }
    if (IsSubByteDType(storage.values) &&
        storage.group_size % (8 / DTypeBits(storage.values)) != 0) {
      return Invalid(what,
                     absl::StrCat("group size ", storage.group_size, " of ", NameOf(storage.values),
                                  " values does not start every group on a byte"));
    }
  }
  if (!IsFloatingDType(storage.scale_dtype)) {
    return Invalid(what, absl::StrCat("scale dtype ", NameOf(storage.scale_dtype),
                                      " is not F16, BF16 or F32"));
  }
  if (storage.scales.empty()) return Invalid(what, "the scale tensor has no name");
  if (storage.zero_points == storage.scales) {
    return Invalid(
        what, absl::StrCat("scales and zero points are the same tensor '", storage.scales, "'"));
  }
  return absl::OkStatus();
}

int64_t GroupsPerRow(const QuantizedStorage& storage, absl::Span<const int64_t> weight_shape) {
  return storage.group_size == 0 ? 1 : weight_shape[1] / storage.group_size;
}

std::vector<int64_t> ScaleShape(const QuantizedStorage& storage,
                                absl::Span<const int64_t> weight_shape) {
  return {weight_shape[0], GroupsPerRow(storage, weight_shape)};
}

absl::Status CheckSliceKeepsGroups(const QuantizedStorage& storage,
                                   absl::Span<const int64_t> weight_shape, int dim, int64_t begin,
                                   int64_t end, absl::string_view what) {
  if (dim != 1) return absl::OkStatus();  // whole tensor or rows: groups stay whole
  const int64_t group = storage.group_size == 0 ? weight_shape[1] : storage.group_size;
  if (begin % group != 0 || end % group != 0) {
    return Invalid(
        what,
        absl::StrCat("columns [", begin, ", ", end, ") split a quantization group of ", group, " (",
                     storage.group_size == 0 ? "per output channel" : "per group", ")"));
  }
  return absl::OkStatus();
}

}  // namespace bloom
