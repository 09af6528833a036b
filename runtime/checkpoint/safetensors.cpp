#include "runtime/checkpoint/safetensors.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "runtime/support/status_macros.h"

namespace bloom {
namespace {

using Json = nlohmann::json;

// The reference implementation refuses headers above 100 MB; a larger N is
// either corrupt or an attempt to make us parse gigabytes of JSON.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

// Names come from the file, so they may be huge or hold newlines; quote them
// escaped and shortened so an error stays one readable line.
std::string Quote(absl::string_view name) {
  constexpr size_t kMaxShown = 120;
  std::string shown = absl::CHexEscape(name.substr(0, kMaxShown));
  if (name.size() > kMaxShown) absl::StrAppend(&shown, "...");
  return absl::StrCat("'", shown, "'");
}

// Debian's Abseil has its own string_view type, distinct from std's.
absl::string_view View(std::string_view text) { return {text.data(), text.size()}; }

std::string JsonTypeName(const Json& value) { return value.type_name(); }

// StorageBytes(dtype, elements) into *bytes; false when it overflows (only a
// whole-byte dtype's product can: a sub-byte count is a division).
bool StorageBytesFit(DType dtype, uint64_t elements, uint64_t* bytes) {
  if (IsSubByteDType(dtype)) {
    *bytes = StorageBytes(dtype, elements);
    return true;
  }
  return !__builtin_mul_overflow(elements, static_cast<uint64_t>(DTypeSize(dtype)), bytes);
}

absl::Status TensorError(absl::string_view label, absl::string_view name,
                         absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat(label, ": tensor ", Quote(name), ": ", problem));
}

// Reads a JSON integer that must lie in [0, 2^63). Floats, negatives and
// anything else are rejected with `what` naming the field.
absl::StatusOr<uint64_t> NonNegativeInteger(const Json& value,
                                            absl::string_view label,
                                            absl::string_view name,
                                            absl::string_view what) {
  if (value.is_number_unsigned()) {
    uint64_t v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return TensorError(label, name, absl::StrCat(what, " ", v, " is too large"));
    }
    return v;
  }
  if (value.is_number_integer()) {  // signed, hence negative
    return TensorError(label, name,
                       absl::StrCat(what, " is negative (", value.get<int64_t>(), ")"));
  }
  return TensorError(label, name,
                     absl::StrCat(what, " must be an integer, got ", JsonTypeName(value)));
}

absl::StatusOr<SafetensorsTensor> ParseTensorEntry(const std::string& name,
                                                   const Json& entry,
                                                   uint64_t data_size,
                                                   absl::string_view label) {
  if (!entry.is_object()) {
    return TensorError(label, name,
                       absl::StrCat("entry must be an object, got ", JsonTypeName(entry)));
  }
  SafetensorsTensor tensor;
  tensor.name = name;

  auto dtype_it = entry.find("dtype");
  if (dtype_it == entry.end()) return TensorError(label, name, "missing 'dtype'");
  if (!dtype_it->is_string()) {
    return TensorError(label, name,
                       absl::StrCat("'dtype' must be a string, got ", JsonTypeName(*dtype_it)));
  }
  const auto& dtype_name = dtype_it->get_ref<const std::string&>();
  std::optional<DType> dtype = ParseDTypeName(dtype_name);
  if (!dtype) {
    return TensorError(label, name,
                       absl::StrCat("unsupported dtype ", Quote(dtype_name),
                                    " (expected F32, F16, BF16, I32, I8 or I4)"));
  }
  tensor.dtype = *dtype;

  auto shape_it = entry.find("shape");
  if (shape_it == entry.end()) return TensorError(label, name, "missing 'shape'");
  if (!shape_it->is_array()) {
    return TensorError(label, name,
                       absl::StrCat("'shape' must be an array, got ", JsonTypeName(*shape_it)));
  }
  // Elements counted in uint64 with an overflow check per dimension; the
  // byte count must also fit, since it is compared with the data range.
  uint64_t num_elements = 1;
  bool overflow = false;
  for (size_t i = 0; i < shape_it->size(); ++i) {
    BLOOM_ASSIGN_OR_RETURN(uint64_t dim,
                           NonNegativeInteger((*shape_it)[i], label, name,
                                              absl::StrCat("shape[", i, "]")));
    tensor.shape.push_back(static_cast<int64_t>(dim));
    if (!overflow && __builtin_mul_overflow(num_elements, dim, &num_elements)) {
      overflow = true;
    }
  }
  uint64_t num_bytes = 0;
  // A zero dimension anywhere makes the tensor empty, whatever the others say.
  const bool has_zero_dim =
      std::find(tensor.shape.begin(), tensor.shape.end(), 0) != tensor.shape.end();
  if (has_zero_dim) {
    num_elements = 0;
    overflow = false;
  }
  if (overflow ||
      num_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
      !StorageBytesFit(tensor.dtype, num_elements, &num_bytes)) {
    return TensorError(label, name, "element count overflows 64 bits");
  }
  // An int4 tensor's rows must fill whole bytes (dtype.h).
  if (absl::Status storable = CheckStorageShape(tensor.dtype, tensor.shape, "shape");
      !storable.ok()) {
    return TensorError(label, name, storable.message());
  }

  auto offsets_it = entry.find("data_offsets");
  if (offsets_it == entry.end()) return TensorError(label, name, "missing 'data_offsets'");
  if (!offsets_it->is_array() || offsets_it->size() != 2) {
    return TensorError(label, name, "'data_offsets' must be an array [begin, end]");
  }
  BLOOM_ASSIGN_OR_RETURN(tensor.begin,
                         NonNegativeInteger((*offsets_it)[0], label, name, "data_offsets begin"));
  BLOOM_ASSIGN_OR_RETURN(tensor.end,
                         NonNegativeInteger((*offsets_it)[1], label, name, "data_offsets end"));
  if (tensor.begin > tensor.end) {
    return TensorError(label, name,
                       absl::StrCat("data_offsets [", tensor.begin, ", ", tensor.end,
                                    "] has begin after end"));
  }
  if (tensor.end > data_size) {
    return TensorError(label, name,
                       absl::StrCat("data range [", tensor.begin, ", ", tensor.end,
                                    ") ends past the data section (", data_size, " bytes)"));
  }
  if (tensor.end - tensor.begin != num_bytes) {
    return TensorError(label, name,
                       absl::StrCat("data range [", tensor.begin, ", ", tensor.end, ") holds ",
                                    tensor.end - tensor.begin, " bytes but ", num_elements,
                                    " elements of ", View(DTypeName(tensor.dtype)), " need ",
                                    num_bytes));
  }
  return tensor;
}

absl::StatusOr<std::map<std::string, std::string>> ParseMetadata(const Json& value,
                                                                 absl::string_view label) {
  if (!value.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        label, ": '__metadata__' must be an object, got ", JsonTypeName(value)));
  }
  std::map<std::string, std::string> metadata;
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (!it->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ": '__metadata__' value for ", Quote(it.key()),
                       " must be a string, got ", JsonTypeName(*it)));
    }
    metadata.emplace(it.key(), it->get<std::string>());
  }
  return metadata;
}

// Two tensors sharing bytes would let a write through one (or a quantizer
// in place) corrupt the other, and is never produced by a real writer.
absl::Status CheckNoOverlap(const std::map<std::string, SafetensorsTensor>& tensors,
                            absl::string_view label) {
  std::vector<const SafetensorsTensor*> by_begin;
  for (const auto& [name, tensor] : tensors) {
    if (tensor.begin != tensor.end) by_begin.push_back(&tensor);  // empty ranges hold no bytes
  }
  std::sort(by_begin.begin(), by_begin.end(),
            [](const SafetensorsTensor* a, const SafetensorsTensor* b) {
              return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
            });
  // Sorted by begin, a range overlaps some earlier one iff it starts before
  // the furthest end seen so far.
  const SafetensorsTensor* furthest = nullptr;
  for (const SafetensorsTensor* tensor : by_begin) {
    if (furthest != nullptr && tensor->begin < furthest->end) {
      return TensorError(label, tensor->name,
                         absl::StrCat("data range [", tensor->begin, ", ", tensor->end,
                                      ") overlaps tensor ", Quote(furthest->name), " [",
                                      furthest->begin, ", ", furthest->end, ")"));
    }
    if (furthest == nullptr || tensor->end > furthest->end) furthest = tensor;
  }
  return absl::OkStatus();
}

absl::StatusOr<SafetensorsHeader> ParseHeaderJson(const Json& root, uint64_t data_offset,
                                                  uint64_t data_size,
                                                  absl::string_view label) {
  if (!root.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": header must be a JSON object, got ", JsonTypeName(root)));
  }
  SafetensorsHeader header;
  header.data_offset = data_offset;
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() == "__metadata__") {
      BLOOM_ASSIGN_OR_RETURN(header.metadata, ParseMetadata(*it, label));
      continue;
    }
    BLOOM_ASSIGN_OR_RETURN(SafetensorsTensor tensor,
                           ParseTensorEntry(it.key(), *it, data_size, label));
    header.tensors.emplace(it.key(), std::move(tensor));
  }
  BLOOM_RETURN_IF_ERROR(CheckNoOverlap(header.tensors, label));
  std::vector<std::string> names;
  for (const auto& [name, tensor] : header.tensors) names.push_back(name);
  BLOOM_ASSIGN_OR_RETURN(header.generated, ParseGeneratedWeights(header.metadata, names, label));
  return header;
}

}  // namespace

int64_t SafetensorsTensor::NumElements() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;  // validated not to overflow at parse time
  return count;
}

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(const uint8_t* file, size_t size,
                                                         std::string_view label) {
  const absl::string_view label_view(label.data(), label.size());
  if (size < 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        label_view, ": file is ", size, " bytes, too short for the 8-byte header length"));
  }
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | file[i];  // little-endian
  if (header_size > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        label_view, ": header length ", header_size, " exceeds the limit of ", kMaxHeaderBytes,
        " bytes"));
  }
  if (header_size > size - 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        label_view, ": header length ", header_size, " runs past the end of the file (",
        size, " bytes)"));
  }
  const char* text = reinterpret_cast<const char*>(file + 8);
  // Parse without exceptions: a parse error yields a "discarded" value. The
  // whole body sits in a try block as well, since nlohmann may throw
  // std::bad_alloc or type errors, and nothing may escape this API.
  try {
    Json root = Json::parse(text, text + header_size, /*cb=*/nullptr,
                            /*allow_exceptions=*/false);
    if (root.is_discarded()) {
      // Re-parse for the position of the error; this only runs on bad input.
      std::string detail = "malformed JSON";
      try {
        Json ignored = Json::parse(text, text + header_size);
        (void)ignored;
      } catch (const Json::parse_error& e) {
        detail = absl::StrCat("malformed JSON at byte ", e.byte);
      }
      return absl::InvalidArgumentError(absl::StrCat(label_view, ": header is ", detail));
    }
    const uint64_t data_offset = 8 + header_size;
    return ParseHeaderJson(root, data_offset, size - data_offset, label_view);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat(label_view, ": unexpected error while reading the header: ", e.what()));
  }
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  SafetensorsFile result;
  BLOOM_ASSIGN_OR_RETURN(result.file_, MappedFile::Open(path));
  BLOOM_ASSIGN_OR_RETURN(result.header_,
                         ParseSafetensorsHeader(result.file_.data(), result.file_.size(), path));
  return result;
}

const SafetensorsTensor* SafetensorsFile::Find(std::string_view name) const {
  auto it = header_.tensors.find(std::string(name));
  return it == header_.tensors.end() ? nullptr : &it->second;
}

absl::Span<const uint8_t> SafetensorsFile::Data(const SafetensorsTensor& tensor) const {
  // The parser guaranteed data_offset + end <= file size.
  return absl::Span<const uint8_t>(file_.data() + header_.data_offset + tensor.begin,
                                   tensor.end - tensor.begin);
}

absl::Status SafetensorsFile::ReadSliceAsFloat32(const SafetensorsTensor& tensor, int dim,
                                                int64_t begin, int64_t end,
                                                absl::Span<float> dst,
                                                absl::string_view what) const {
  if (!header_.generated) {
    return ReadTensorSliceAsFloat32(tensor.dtype, tensor.shape, Data(tensor), dim, begin, end,
                                    dst, what);
  }
  BLOOM_ASSIGN_OR_RETURN(TensorSlice slice, MakeTensorSlice(tensor.shape, dim, begin, end, what));
  // ParseGeneratedWeights checked every tensor has its entry.
  return GenerateTensorSliceAsFloat32(header_.generated->tensors.at(tensor.name), tensor.dtype,
                                      slice, dst, what);
}

}  // namespace bloom
