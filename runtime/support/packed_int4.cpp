#include "runtime/support/packed_int4.h"

#include "absl/strings/str_cat.h"
#include "runtime/support/dtype.h"

namespace bloom {
namespace {

absl::Status CheckPackedSize(size_t values, size_t bytes) {
  const uint64_t expected = StorageBytes(DType::kI4, values);
  if (bytes != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat(values, " int4 values take ", expected, " bytes, not ", bytes));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status PackInt4(absl::Span<const int8_t> values, absl::Span<uint8_t> packed) {
  if (absl::Status size = CheckPackedSize(values.size(), packed.size()); !size.ok()) {
    return size;
  }
  for (size_t i = 0; i < packed.size(); ++i) packed[i] = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const int value = values[i];
    if (value < kInt4Min || value > kInt4Max) {
      return absl::InvalidArgumentError(
          absl::StrCat("int4 value ", i, " is ", value, ", outside [-8, 7]"));
    }
    packed[i / 2] |= static_cast<uint8_t>((static_cast<unsigned>(value) & 0xFu) << (4 * (i % 2)));
  }
  return absl::OkStatus();
}

absl::Status UnpackInt4(absl::Span<const uint8_t> packed, absl::Span<int8_t> values) {
  if (absl::Status size = CheckPackedSize(values.size(), packed.size()); !size.ok()) {
    return size;
  }
  for (size_t i = 0; i < values.size(); ++i) values[i] = Int4At(packed.data(), i);
  return absl::OkStatus();
}

}  // namespace bloom
