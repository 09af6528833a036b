#include "test/unit/checkpoint/safetensors_bytes.h"

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "gtest/gtest.h"

namespace bloom::testing {
namespace {

template <typename T>
std::string LittleEndianBytes(const std::vector<T>& values) {
  std::string out;
  for (const T& value : values) {
    unsigned char raw[sizeof(T)];
    std::memcpy(raw, &value, sizeof(T));
    // The test hosts are little-endian; memcpy order is the file order.
    out.append(reinterpret_cast<const char*>(raw), sizeof(T));
  }
  return out;
}

// Removes the directories MakeTempDir() created when the test binary exits.
class TempDirRegistry {
 public:
  ~TempDirRegistry() {
    std::error_code ignored;
    for (const std::string& dir : dirs_) std::filesystem::remove_all(dir, ignored);
  }
  void Add(std::string dir) { dirs_.push_back(std::move(dir)); }

 private:
  std::vector<std::string> dirs_;
};

TempDirRegistry& Registry() {
  static TempDirRegistry registry;
  return registry;
}

}  // namespace

std::string BuildSafetensors(const std::vector<TestTensor>& tensors,
                             const std::map<std::string, std::string>& metadata) {
  std::string header = "{";
  bool first = true;
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first_meta = true;
    for (const auto& [key, value] : metadata) {
      if (!first_meta) header += ",";
      header += "\"" + key + "\":\"" + value + "\"";
      first_meta = false;
    }
    header += "}";
    first = false;
  }
  std::string data;
  for (const TestTensor& t : tensors) {
    if (!first) header += ",";
    first = false;
    header += "\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) {
      if (i > 0) header += ",";
      header += std::to_string(t.shape[i]);
    }
    const size_t begin = data.size();
    data += t.bytes;
    header += "],\"data_offsets\":[" + std::to_string(begin) + "," +
              std::to_string(data.size()) + "]}";
  }
  header += "}";
  // Writers pad the header with spaces to a multiple of 8; do the same so
  // the reader is exercised on what real files look like.
  while (header.size() % 8 != 0) header += ' ';
  return FrameSafetensors(header, data);
}

std::string FrameSafetensors(const std::string& header, const std::string& data) {
  std::string out;
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  return out + header + data;
}

std::string F32Bytes(const std::vector<float>& values) { return LittleEndianBytes(values); }
std::string U16Bytes(const std::vector<uint16_t>& bits) { return LittleEndianBytes(bits); }
std::string I32Bytes(const std::vector<int32_t>& values) { return LittleEndianBytes(values); }

bool WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

std::string MakeTempDir() {
  std::string pattern = ::testing::TempDir() + "bloom_ckpt_XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) return "";
  Registry().Add(pattern);
  return pattern;
}

}  // namespace bloom::testing
