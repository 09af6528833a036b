// Reader for the safetensors format: an 8-byte little-endian header length
// N, N bytes of JSON mapping tensor names to {dtype, shape, data_offsets}
// (plus an optional "__metadata__" object of strings), then the data section.
// Every claim of the header is checked against the file before any tensor is
// handed out: offsets inside the data section, byte range == shape × dtype
// size, no two tensors overlapping, known dtypes, well-formed JSON.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/checkpoint/generated_weights.h"
#include "runtime/support/dtype.h"
#include "runtime/support/mapped_file.h"

namespace bloom {

struct SafetensorsTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  // Byte range relative to the start of the data section.
  uint64_t begin = 0;
  uint64_t end = 0;

  int64_t NumElements() const;
};

struct SafetensorsHeader {
  // Offset of the data section from the start of the file (8 + N).
  uint64_t data_offset = 0;
  std::map<std::string, SafetensorsTensor> tensors;
  std::map<std::string, std::string> metadata;
  // Set when the metadata says the values come from a generator
  // (generated_weights.h), not from the data section.
  std::optional<GeneratedWeights> generated;
};

// Parses and validates a safetensors header from the first `size` bytes of a
// file (`size` is the whole file's size, so data ranges can be checked).
// `label` (usually the path) prefixes every error message. Pure function:
// this is the libFuzzer entry point.
absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(const uint8_t* file,
                                                         size_t size,
                                                         std::string_view label);

// One memory-mapped safetensors file.
class SafetensorsFile {
 public:
  static absl::StatusOr<SafetensorsFile> Open(const std::string& path);

  const std::string& path() const { return file_.path(); }
  const SafetensorsHeader& header() const { return header_; }
  // nullptr when absent.
  const SafetensorsTensor* Find(std::string_view name) const;
  // The tensor's bytes inside the mapping (valid while this object lives).
  // A generated file's data section holds no values (zeros, usually
  // sparse holes): read its tensors with ReadSliceAsFloat32.
  absl::Span<const uint8_t> Data(const SafetensorsTensor& tensor) const;
  bool generated() const { return header_.generated.has_value(); }
  // The slice [begin, end) of dimension `dim` of `tensor` (-1: the whole
  // tensor) into `dst` as float32: from the stored bytes, reading only the
  // slice's, or from the generator of a generated file (the same values).
  // Errors name `what`.
  absl::Status ReadSliceAsFloat32(const SafetensorsTensor& tensor, int dim, int64_t begin,
                                  int64_t end, absl::Span<float> dst,
                                  absl::string_view what) const;

 private:
  MappedFile file_;
  SafetensorsHeader header_;
};

}  // namespace bloom
