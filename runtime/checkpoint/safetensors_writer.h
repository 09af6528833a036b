// The project's one safetensors writer (safetensors.h is the reader). A file
// is an 8-byte little-endian header length N, N bytes of JSON ({name:
// {dtype, shape, data_offsets}} plus "__metadata__", padded with spaces to a
// multiple of 8, as the safetensors library pads, so the data section starts
// 8-byte aligned), then the tensors' bytes back to back with no holes, as
// the format requires.
//
// Two steps, so that every producer shares the framing:
//   LayOutSafetensors: the header and each tensor's offset, computed alone
//     (a layout-only synthetic checkpoint is exactly this plus file size);
//   SafetensorsFileWriter: creates the file at its full size with the
//     header written and the data section a sparse hole, into which tensor
//     bytes are then written at their offsets, from any thread.
// WriteSafetensors does both for tensors filled one at a time by a callback
// (bloom-compile --pack-weights), so a rank's slices of a large model never
// sit in memory together.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/support/dtype.h"

namespace bloom {

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;

  // Bytes of the tensor's data: StorageBytes of its elements (two int4 to a
  // byte).
  uint64_t Bytes() const;
};

// The order of the header's JSON members. Both are valid safetensors; the
// choice is kept per producer so that files stay byte-identical to those
// written before the writers were one (tests compare their bytes).
enum class SafetensorsKeyOrder {
  // "__metadata__", then the tensors in data order, each {"dtype", "shape",
  // "data_offsets"}: the safetensors library's order. bloom-compile.
  kDataOrder,
  // Every object's keys sorted bytewise (nlohmann::json's std::map order).
  // make-synthetic-checkpoint.
  kSorted,
};

struct SafetensorsHeaderOptions {
  // "__metadata__": string keys and values, written in key order.
  std::map<std::string, std::string> metadata = {{"format", "pt"}};
  SafetensorsKeyOrder order = SafetensorsKeyOrder::kDataOrder;
};

struct SafetensorsLayout {
  std::string header;           // the framed header: length, then JSON
  std::vector<uint64_t> begin;  // per entry, its data's offset in the file
  std::vector<uint64_t> bytes;  // per entry, its data's size
  uint64_t file_size = 0;       // header plus data

  uint64_t data_offset() const { return header.size(); }
};

// Lays `entries` out in the order given (callers put wider element types
// first so every tensor starts aligned to its element size). Names must be
// unique and not "__metadata__", and shapes storable (CheckStorageShape).
// Errors name `label` (usually the path).
absl::StatusOr<SafetensorsLayout> LayOutSafetensors(const std::vector<SafetensorsEntry>& entries,
                                                    const SafetensorsHeaderOptions& options,
                                                    const std::string& label);

// One safetensors file being written. Create() makes it at the layout's full
// size (replacing a file of that name) with the header in place and the data
// section a hole that reads as zeros: a layout-only file is complete right
// then. WriteTensorBytes may be called from several threads at once.
class SafetensorsFileWriter {
 public:
  static absl::StatusOr<SafetensorsFileWriter> Create(std::string path, SafetensorsLayout layout);

  SafetensorsFileWriter(SafetensorsFileWriter&& other) noexcept;
  SafetensorsFileWriter& operator=(SafetensorsFileWriter&& other) noexcept;
  SafetensorsFileWriter(const SafetensorsFileWriter&) = delete;
  SafetensorsFileWriter& operator=(const SafetensorsFileWriter&) = delete;
  ~SafetensorsFileWriter();  // closes without reporting: call Close()

  const std::string& path() const { return path_; }
  const SafetensorsLayout& layout() const { return layout_; }

  // Writes `data` at byte `offset` of tensor `index`'s data; the range must
  // lie inside that tensor.
  absl::Status WriteTensorBytes(size_t index, uint64_t offset,
                                absl::Span<const uint8_t> data) const;

  // Closes the file; errors (a full disk noticed late) name the path.
  absl::Status Close();

 private:
  SafetensorsFileWriter(std::string path, SafetensorsLayout layout, int fd)
      : path_(std::move(path)), layout_(std::move(layout)), fd_(fd) {}

  std::string path_;
  SafetensorsLayout layout_;
  int fd_ = -1;
};

// Fills `bytes` (already sized to entries[index].Bytes() and zeroed) with
// tensor `index`'s data.
using SafetensorsFill = std::function<absl::Status(size_t index, std::vector<uint8_t>& bytes)>;

// Writes `entries` to `path`, each tensor's bytes from `fill`, one tensor in
// memory at a time. Errors name the file.
absl::Status WriteSafetensors(const std::string& path, const std::vector<SafetensorsEntry>& entries,
                              const SafetensorsHeaderOptions& options, const SafetensorsFill& fill);

}  // namespace bloom
