// NumPy .npy files (format version 1.0) of little-endian float32, the form
// in which bloom-run dumps logits and tests load transformers' goldens.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace bloom {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;  // C order
};

// Writes `data` (C order, product(shape) elements) as '<f4'.
absl::Status WriteNpyFloat32(const std::string& path,
                             absl::Span<const int64_t> shape,
                             absl::Span<const float> data);

// Reads a C-order '<f4' array; any other dtype, Fortran order, or a size
// that disagrees with the shape is an error naming the file.
absl::StatusOr<NpyArray> ReadNpyFloat32(const std::string& path);

}  // namespace bloom
