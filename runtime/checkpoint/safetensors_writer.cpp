#include "runtime/checkpoint/safetensors_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "runtime/support/status_macros.h"

namespace bloom {
namespace {

absl::Status ErrnoError(const std::string& path, const std::string& what) {
  return absl::UnavailableError(absl::StrCat(path, ": ", what, ": ", std::strerror(errno)));
}

// The JSON text of the header. `Json` is nlohmann::ordered_json (members in
// insertion order) or nlohmann::json (members sorted), which is all the
// difference between the two key orders.
template <typename Json>
std::string HeaderJson(const std::vector<SafetensorsEntry>& entries,
                       const std::map<std::string, std::string>& metadata,
                       const std::vector<uint64_t>& relative_begin,
                       const std::vector<uint64_t>& bytes) {
  Json header = Json::object();
  Json meta = Json::object();
  for (const auto& [key, value] : metadata) meta[key] = value;
  header["__metadata__"] = std::move(meta);
  for (size_t i = 0; i < entries.size(); ++i) {
    header[entries[i].name] = {{"dtype", std::string(DTypeName(entries[i].dtype))},
                               {"shape", entries[i].shape},
                               {"data_offsets", {relative_begin[i], relative_begin[i] + bytes[i]}}};
  }
  return header.dump();
}

}  // namespace

uint64_t SafetensorsEntry::Bytes() const {
  uint64_t elements = 1;
  for (int64_t dim : shape) elements *= static_cast<uint64_t>(dim);
  return StorageBytes(dtype, elements);
}

absl::StatusOr<SafetensorsLayout> LayOutSafetensors(const std::vector<SafetensorsEntry>& entries,
                                                    const SafetensorsHeaderOptions& options,
                                                    const std::string& label) {
  std::set<std::string> names;
  std::vector<uint64_t> relative_begin, bytes;
  uint64_t offset = 0;
  for (const SafetensorsEntry& entry : entries) {
    const std::string what = absl::StrCat(label, ": tensor '", entry.name, "'");
    if (entry.name == "__metadata__") {
      return absl::InvalidArgumentError(absl::StrCat(what, " has the metadata's name"));
    }
    if (!names.insert(entry.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(what, " written twice"));
    }
    BLOOM_RETURN_IF_ERROR(CheckStorageShape(entry.dtype, entry.shape, what));
    relative_begin.push_back(offset);
    bytes.push_back(entry.Bytes());
    offset += bytes.back();
  }
  std::string text =
      options.order == SafetensorsKeyOrder::kSorted
          ? HeaderJson<nlohmann::json>(entries, options.metadata, relative_begin, bytes)
          : HeaderJson<nlohmann::ordered_json>(entries, options.metadata, relative_begin, bytes);
  text.append((8 - text.size() % 8) % 8, ' ');

  SafetensorsLayout layout;
  layout.header.assign(8, '\0');
  const uint64_t length = text.size();
  for (int b = 0; b < 8; ++b) layout.header[b] = static_cast<char>((length >> (8 * b)) & 0xFF);
  layout.header += text;
  for (uint64_t begin : relative_begin) layout.begin.push_back(layout.header.size() + begin);
  layout.bytes = std::move(bytes);
  layout.file_size = layout.header.size() + offset;
  return layout;
}

absl::StatusOr<SafetensorsFileWriter> SafetensorsFileWriter::Create(std::string path,
                                                                    SafetensorsLayout layout) {
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError(path, "cannot create");
  SafetensorsFileWriter writer(std::move(path), std::move(layout), fd);
  // Sizing the file first makes the data section a hole (a layout-only
  // file takes no disk) and lets threads write anywhere in it.
  if (::ftruncate(fd, static_cast<off_t>(writer.layout_.file_size)) != 0) {
    return ErrnoError(writer.path_, "cannot size the file");
  }
  const std::string& header = writer.layout_.header;
  const auto* data = reinterpret_cast<const uint8_t*>(header.data());
  for (uint64_t done = 0; done < header.size();) {
    const ssize_t wrote = ::pwrite(fd, data + done, header.size() - done, static_cast<off_t>(done));
    if (wrote < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(writer.path_, "cannot write the header");
    }
    done += static_cast<uint64_t>(wrote);
  }
  return writer;
}

SafetensorsFileWriter::SafetensorsFileWriter(SafetensorsFileWriter&& other) noexcept
    : path_(std::move(other.path_)),
      layout_(std::move(other.layout_)),
      fd_(std::exchange(other.fd_, -1)) {}

SafetensorsFileWriter& SafetensorsFileWriter::operator=(SafetensorsFileWriter&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    layout_ = std::move(other.layout_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

SafetensorsFileWriter::~SafetensorsFileWriter() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status SafetensorsFileWriter::WriteTensorBytes(size_t index, uint64_t offset,
                                                     absl::Span<const uint8_t> data) const {
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(path_, ": already closed"));
  if (index >= layout_.begin.size() || offset > layout_.bytes[index] ||
      data.size() > layout_.bytes[index] - offset) {
    return absl::InternalError(absl::StrCat(path_, ": write of ", data.size(), " bytes at ", offset,
                                            " is outside tensor ", index));
  }
  uint64_t at = layout_.begin[index] + offset;
  const uint8_t* next = data.data();
  for (uint64_t left = data.size(); left > 0;) {
    const ssize_t wrote = ::pwrite(fd_, next, left, static_cast<off_t>(at));
    if (wrote < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(path_, absl::StrCat("write at offset ", at));
    }
    next += wrote;
    left -= static_cast<uint64_t>(wrote);
    at += static_cast<uint64_t>(wrote);
  }
  return absl::OkStatus();
}

absl::Status SafetensorsFileWriter::Close() {
  const int fd = std::exchange(fd_, -1);
  if (fd >= 0 && ::close(fd) != 0) return ErrnoError(path_, "cannot close");
  return absl::OkStatus();
}

absl::Status WriteSafetensors(const std::string& path, const std::vector<SafetensorsEntry>& entries,
                              const SafetensorsHeaderOptions& options,
                              const SafetensorsFill& fill) {
  BLOOM_ASSIGN_OR_RETURN(SafetensorsLayout layout, LayOutSafetensors(entries, options, path));
  BLOOM_ASSIGN_OR_RETURN(SafetensorsFileWriter file,
                         SafetensorsFileWriter::Create(path, std::move(layout)));
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i < entries.size(); ++i) {
    bytes.assign(file.layout().bytes[i], 0);
    BLOOM_RETURN_IF_ERROR(fill(i, bytes));
    if (bytes.size() != file.layout().bytes[i]) {
      return absl::InternalError(absl::StrCat(path, ": tensor '", entries[i].name,
                                              "' was filled with ", bytes.size(), " bytes, not ",
                                              file.layout().bytes[i]));
    }
    BLOOM_RETURN_IF_ERROR(file.WriteTensorBytes(i, 0, bytes));
  }
  return file.Close();
}

}  // namespace bloom
