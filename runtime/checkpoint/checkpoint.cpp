#include "runtime/checkpoint/checkpoint.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "runtime/support/mapped_file.h"
#include "runtime/support/status_macros.h"

namespace bloom {
namespace {

using Json = nlohmann::json;

constexpr absl::string_view kIndexFile = "model.safetensors.index.json";
constexpr absl::string_view kSingleFile = "model.safetensors";

std::string JoinPath(absl::string_view dir, absl::string_view file) {
  if (dir.empty()) return std::string(file);
  if (dir.back() == '/') return absl::StrCat(dir, file);
  return absl::StrCat(dir, "/", file);
}

std::string Quote(absl::string_view text) {
  constexpr size_t kMaxShown = 120;
  std::string shown = absl::CHexEscape(text.substr(0, kMaxShown));
  if (text.size() > kMaxShown) absl::StrAppend(&shown, "...");
  return absl::StrCat("'", shown, "'");
}

// True if `path` exists; an error other than "does not exist" (say, a
// permission problem on the directory) is reported rather than treated as
// absence, so the user is not told a file is missing when it is unreadable.
absl::StatusOr<bool> Exists(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT || errno == ENOTDIR) return false;
  return absl::UnavailableError(absl::StrCat(path, ": ", std::strerror(errno)));
}

// A shard name is a plain file name inside the checkpoint directory: no
// separators and no "."/"..", so a hostile index cannot reach other files.
bool IsPlainFileName(absl::string_view name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('/') == absl::string_view::npos &&
         name.find('\0') == absl::string_view::npos;
}

absl::string_view View(std::string_view text) { return {text.data(), text.size()}; }

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> ParseCheckpointIndex(std::string_view text,
                                                                       std::string_view label) {
  const absl::string_view path = View(label);
  try {
    Json root = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (root.is_discarded()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": malformed JSON"));
    }
    if (!root.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": must be a JSON object, got ", root.type_name()));
    }
    auto map_it = root.find("weight_map");
    if (map_it == root.end()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": missing 'weight_map'"));
    }
    if (!map_it->is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": 'weight_map' must be an object, got ", map_it->type_name()));
    }
    std::map<std::string, std::string> weight_map;
    for (auto it = map_it->begin(); it != map_it->end(); ++it) {
      if (!it->is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": weight_map entry for tensor ", Quote(it.key()),
                         " must be a string, got ", it->type_name()));
      }
      const auto& shard = it->get_ref<const std::string&>();
      if (!IsPlainFileName(shard)) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": tensor ", Quote(it.key()), " names shard ", Quote(shard),
                         ", which is not a plain file name in the checkpoint directory"));
      }
      weight_map.emplace(it.key(), shard);
    }
    if (weight_map.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": 'weight_map' is empty"));
    }
    return weight_map;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(path, ": unexpected error: ", e.what()));
  }
}

namespace {

// Reads weight_map from the index file: tensor name -> shard file name.
absl::StatusOr<std::map<std::string, std::string>> ReadWeightMap(const std::string& path) {
  BLOOM_ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  return ParseCheckpointIndex(
      std::string_view(reinterpret_cast<const char*>(file.data()), file.size()), path);
}

}  // namespace

absl::StatusOr<Checkpoint> Checkpoint::Open(const std::string& dir) {
  Checkpoint checkpoint;
  checkpoint.dir_ = dir;

  const std::string index_path = JoinPath(dir, kIndexFile);
  BLOOM_ASSIGN_OR_RETURN(bool has_index, Exists(index_path));
  if (has_index) {
    BLOOM_ASSIGN_OR_RETURN(auto weight_map, ReadWeightMap(index_path));
    for (const auto& [tensor_name, shard] : weight_map) {
      auto file_it = checkpoint.files_.find(shard);
      if (file_it == checkpoint.files_.end()) {
        BLOOM_ASSIGN_OR_RETURN(SafetensorsFile file,
                               SafetensorsFile::Open(JoinPath(dir, shard)));
        file_it = checkpoint.files_
                      .emplace(shard, std::make_unique<SafetensorsFile>(std::move(file)))
                      .first;
      }
      if (file_it->second->Find(tensor_name) == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(index_path, ": tensor ", Quote(tensor_name), " is listed in shard ",
                         Quote(shard), " but that file does not contain it"));
      }
      checkpoint.tensor_to_file_.emplace(tensor_name, shard);
    }
    return checkpoint;
  }

  const std::string single_path = JoinPath(dir, kSingleFile);
  BLOOM_ASSIGN_OR_RETURN(bool has_single, Exists(single_path));
  if (!has_single) {
    return absl::NotFoundError(absl::StrCat(dir, ": no checkpoint found (looked for ",
                                            kIndexFile, " and ", kSingleFile, ")"));
  }
  BLOOM_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(single_path));
  auto owned = std::make_unique<SafetensorsFile>(std::move(file));
  for (const auto& [tensor_name, tensor] : owned->header().tensors) {
    checkpoint.tensor_to_file_.emplace(tensor_name, std::string(kSingleFile));
  }
  checkpoint.files_.emplace(std::string(kSingleFile), std::move(owned));
  return checkpoint;
}

std::vector<std::string> Checkpoint::TensorNames() const {
  std::vector<std::string> names;
  names.reserve(tensor_to_file_.size());
  for (const auto& [name, file] : tensor_to_file_) names.push_back(name);  // map: sorted
  return names;
}

bool Checkpoint::Contains(std::string_view name) const {
  return tensor_to_file_.find(name) != tensor_to_file_.end();
}

absl::StatusOr<CheckpointTensorRef> Checkpoint::Find(std::string_view name) const {
  auto it = tensor_to_file_.find(name);
  if (it == tensor_to_file_.end()) {
    return absl::NotFoundError(
        absl::StrCat(dir_, ": tensor ", Quote(View(name)), " not found in the checkpoint"));
  }
  const SafetensorsFile& file = *files_.at(it->second);
  CheckpointTensorRef ref;
  ref.file = it->second;
  ref.opened = &file;
  ref.tensor = file.Find(name);  // Open() checked every listed tensor is present
  ref.data = file.Data(*ref.tensor);
  return ref;
}

absl::Status Checkpoint::ReadAsFloat32(std::string_view name, absl::Span<float> dst) const {
  BLOOM_ASSIGN_OR_RETURN(CheckpointTensorRef ref, Find(name));
  const std::string what = absl::StrCat(JoinPath(dir_, ref.file), ": tensor ", Quote(View(name)));
  const int64_t count = ref.tensor->NumElements();
  if (count < 0 || static_cast<uint64_t>(count) != dst.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has ", count, " elements, expected ", dst.size()));
  }
  return ref.opened->ReadSliceAsFloat32(*ref.tensor, /*dim=*/-1, 0, 0, dst, what);
}

}  // namespace bloom
