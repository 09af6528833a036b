// A minimal safetensors writer for --pack-weights: an 8-byte little-endian
// header length N, N bytes of JSON ({name: {dtype, shape, data_offsets}},
// padded with spaces to a multiple of 8), then the tensors' bytes back to
// back with no holes, as the format requires. Tensors are written one at a
// time through a callback, so a rank's slices of a large model never sit in
// memory together.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "runtime/support/dtype.h"

namespace bloom {

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;

  // Bytes of the tensor's data: the product of shape × element size.
  uint64_t Bytes() const;
};

// Fills `bytes` (already sized to entries[index].Bytes()) with tensor
// `index`'s data.
using SafetensorsFill =
    std::function<absl::Status(size_t index, std::vector<uint8_t>& bytes)>;

// Writes `entries` to `path` in the order given (callers put wider element
// types first so every tensor starts aligned to its element size: the
// header length is a multiple of 8). Names must be unique. Errors name the
// file.
absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<SafetensorsEntry>& entries,
                              const SafetensorsFill& fill);

}  // namespace bloom
