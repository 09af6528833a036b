#include "tools/bloom-compile/safetensors_writer.h"

#include <cstdio>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "runtime/support/status_macros.h"

namespace bloom {
namespace {

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

absl::Status WriteAll(std::FILE* file, const void* data, size_t size,
                      const std::string& path) {
  if (size > 0 && std::fwrite(data, 1, size, file) != size) {
    return absl::InternalError(absl::StrCat(path, ": write failed"));
  }
  return absl::OkStatus();
}

}  // namespace

uint64_t SafetensorsEntry::Bytes() const {
  uint64_t elements = 1;
  for (int64_t dim : shape) elements *= static_cast<uint64_t>(dim);
  return elements * DTypeSize(dtype);
}

absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<SafetensorsEntry>& entries,
                              const SafetensorsFill& fill) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  header["__metadata__"] = {{"format", "pt"}, {"producer", "bloom-compile"}};
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const SafetensorsEntry& entry : entries) {
    if (!names.insert(entry.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor '", entry.name, "' written twice"));
    }
    const uint64_t bytes = entry.Bytes();
    header[entry.name] = {{"dtype", std::string(DTypeName(entry.dtype))},
                          {"shape", entry.shape},
                          {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "wb"));
  if (!file) return absl::InternalError(absl::StrCat(path, ": cannot create"));
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) {
    length[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));
  }
  BLOOM_RETURN_IF_ERROR(WriteAll(file.get(), length, sizeof(length), path));
  BLOOM_RETURN_IF_ERROR(WriteAll(file.get(), text.data(), text.size(), path));
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i < entries.size(); ++i) {
    bytes.assign(entries[i].Bytes(), 0);
    BLOOM_RETURN_IF_ERROR(fill(i, bytes));
    BLOOM_RETURN_IF_ERROR(WriteAll(file.get(), bytes.data(), bytes.size(), path));
  }
  if (std::fclose(file.release()) != 0) {
    return absl::InternalError(absl::StrCat(path, ": write failed"));
  }
  return absl::OkStatus();
}

}  // namespace bloom
