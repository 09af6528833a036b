// Hand-built safetensors bytes for tests. It builds the header JSON by plain
// string concatenation, independently of the reader and of the writer under
// test (runtime/checkpoint/safetensors_writer.h is the project's one
// writer; this is the oracle its tests compare against), and can also frame
// arbitrary (hostile) header text so bad-input tests control every byte.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace bloom::testing {

struct TestTensor {
  std::string name;
  std::string dtype;  // written verbatim: "F32", "F16", "BF16", "I32", "I4", ...
  std::vector<int64_t> shape;
  std::string bytes;  // the tensor's raw little-endian data
};

// A complete safetensors file: tensors are laid out back to back in the
// given order; `metadata` becomes "__metadata__" when non-empty.
std::string BuildSafetensors(const std::vector<TestTensor>& tensors,
                             const std::map<std::string, std::string>& metadata = {});

// 8-byte little-endian length of `header`, then `header`, then `data`.
std::string FrameSafetensors(const std::string& header, const std::string& data);

// Little-endian bytes of float32 values / of 16-bit patterns (fp16, bf16).
std::string F32Bytes(const std::vector<float>& values);
std::string U16Bytes(const std::vector<uint16_t>& bits);
std::string I32Bytes(const std::vector<int32_t>& values);

// Writes `bytes` to `path`, replacing it; false on failure.
bool WriteFile(const std::string& path, const std::string& bytes);

// A fresh empty directory under the test's temporary directory.
std::string MakeTempDir();

}  // namespace bloom::testing
