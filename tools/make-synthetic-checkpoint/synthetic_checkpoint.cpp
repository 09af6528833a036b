#include "tools/make-synthetic-checkpoint/synthetic_checkpoint.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "models/bloom/config.h"
#include "nlohmann/json.hpp"
#include "runtime/checkpoint/safetensors_writer.h"
#include "runtime/checkpoint/synthetic_values.h"
#include "runtime/support/status_macros.h"
#include "tools/make-synthetic-checkpoint/shard_layout.h"

namespace bloom::tools {
namespace {

using Json = nlohmann::json;

// Bytes of output per work item: large enough that each pwrite is one big
// sequential write, small enough that every thread has many items.
constexpr uint64_t kChunkBytes = 32ull << 20;
// Floats generated at a time before conversion (stays in L2).
constexpr size_t kBlockElements = 1 << 14;

std::string JoinPath(const std::string& dir, const std::string& file) {
  return dir.empty() || dir.back() == '/' ? dir + file : dir + "/" + file;
}

absl::Status ErrnoError(const std::string& path, const std::string& what) {
  return absl::UnavailableError(absl::StrCat(path, ": ", what, ": ", std::strerror(errno)));
}

absl::Status MakeDirectories(const std::string& dir) {
  // Each prefix ending before a '/', then the whole path.
  for (size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
    const std::string prefix = slash == std::string::npos ? dir : dir.substr(0, slash);
    if (!prefix.empty() && ::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoError(prefix, "cannot create directory");
    }
    if (slash == std::string::npos) break;
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": not a directory"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError(path, "cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return ErrnoError(path, "cannot read");
  return text.str();
}

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return ErrnoError(path, "cannot create");
  out << text;
  out.close();
  if (!out) return ErrnoError(path, "cannot write");
  return absl::OkStatus();
}

// config.json's spelling of a stored float dtype; nullptr for the others,
// which a synthetic checkpoint (random float weights) cannot hold.
const char* TorchDTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "float32";
    case DType::kF16:
      return "float16";
    case DType::kBF16:
      return "bfloat16";
    case DType::kI32:
    case DType::kI8:
    case DType::kI4:
      return nullptr;
  }
  return nullptr;
}

// One piece of one tensor: elements [first, first + count) of tensor
// `tensor` (its index in the shard; spec `spec`) of shard `shard`.
struct WorkItem {
  size_t shard;
  size_t tensor;
  size_t spec;
  int64_t first;
  int64_t count;
};

// The dtype is a float (checked first), so whole bytes per element.
std::vector<WorkItem> SplitIntoItems(const std::vector<ShardLayout>& shards, DType dtype) {
  const int64_t per_chunk = static_cast<int64_t>(kChunkBytes / DTypeSize(dtype));
  std::vector<WorkItem> items;
  for (size_t s = 0; s < shards.size(); ++s) {
    for (size_t t = 0; t < shards[s].specs.size(); ++t) {
      const int64_t elements = static_cast<int64_t>(shards[s].layout.bytes[t] / DTypeSize(dtype));
      for (int64_t first = 0; first < elements; first += per_chunk) {
        const int64_t count = std::min(per_chunk, elements - first);
        items.push_back({s, t, shards[s].specs[t], first, count});
      }
    }
  }
  return items;
}

// Fills and writes `items` on `threads` threads; the first error stops the
// others at their next item.
absl::Status WriteValues(const std::vector<SyntheticTensorSpec>& specs,
                         const std::vector<ShardLayout>& shards,
                         const std::vector<SafetensorsFileWriter>& files,
                         const SyntheticCheckpointOptions& options, int threads) {
  const std::vector<WorkItem> items = SplitIntoItems(shards, options.dtype);
  std::vector<uint64_t> keys;
  for (const SyntheticTensorSpec& spec : specs) {
    keys.push_back(TensorStreamKey(options.seed, spec.name));
  }
  std::atomic<size_t> next{0};
  std::mutex error_mutex;
  absl::Status first_error;
  std::atomic<bool> failed{false};

  auto worker = [&]() {
    std::vector<uint8_t> chunk(kChunkBytes);
    std::vector<float> block(kBlockElements);
    const size_t element_bytes = DTypeSize(options.dtype);
    while (!failed.load(std::memory_order_relaxed)) {
      const size_t i = next.fetch_add(1);
      if (i >= items.size()) return;
      const WorkItem& item = items[i];
      for (int64_t done = 0; done < item.count;) {
        const size_t n = static_cast<size_t>(
            std::min<int64_t>(static_cast<int64_t>(kBlockElements), item.count - done));
        FillValues(keys[item.spec], item.first + done, specs[item.spec].distribution,
                   absl::MakeSpan(block.data(), n));
        ConvertFromFloat32(options.dtype, block.data(), chunk.data() + done * element_bytes, n);
        done += static_cast<int64_t>(n);
      }
      absl::Status status = files[item.shard].WriteTensorBytes(
          item.tensor, static_cast<uint64_t>(item.first) * element_bytes,
          absl::MakeConstSpan(chunk.data(), static_cast<size_t>(item.count) * element_bytes));
      if (!status.ok()) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (first_error.ok()) first_error = status;
        failed = true;
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (std::thread& thread : pool) thread.join();
  return first_error;
}

}  // namespace

absl::StatusOr<SyntheticCheckpointSummary> WriteSyntheticCheckpoint(
    const std::string& config_path, const std::string& out_dir,
    const SyntheticCheckpointOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const char* torch_dtype = TorchDTypeName(options.dtype);
  if (torch_dtype == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("dtype ", std::string(DTypeName(options.dtype)), " is not a floating type"));
  }
  if (options.max_shard_bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max shard bytes must be >= 0, got ", options.max_shard_bytes));
  }
  BLOOM_ASSIGN_OR_RETURN(std::string config_text, ReadText(config_path));
  BLOOM_ASSIGN_OR_RETURN(model::BloomConfig config,
                         model::ParseBloomConfig(config_text, config_path));
  // ParseBloomConfig accepted it, so it is a JSON object.
  Json config_json = Json::parse(config_text, nullptr, /*allow_exceptions=*/false);
  bool tied = true;
  if (auto it = config_json.find("tie_word_embeddings"); it != config_json.end()) {
    if (!it->is_boolean()) {
      return absl::InvalidArgumentError(
          absl::StrCat(config_path, ": 'tie_word_embeddings' must be a boolean"));
    }
    tied = it->get<bool>();
  }
  config_json["dtype"] = torch_dtype;

  BLOOM_RETURN_IF_ERROR(MakeDirectories(out_dir));
  BLOOM_RETURN_IF_ERROR(WriteText(JoinPath(out_dir, "config.json"), config_json.dump(2) + "\n"));

  const std::vector<SyntheticTensorSpec> specs = BloomTensorSpecs(config, tied, options.scales);
  BLOOM_ASSIGN_OR_RETURN(
      const std::vector<ShardLayout> shards,
      LayOutShards(specs, options.dtype, options.max_shard_bytes,
                   options.layout_only ? std::optional<uint64_t>(options.seed) : std::nullopt));

  // A stale index from an earlier sharded write would shadow a single file
  // (Checkpoint::Open prefers the index); stale shards without an index are
  // never read.
  const std::string index_path = JoinPath(out_dir, "model.safetensors.index.json");
  if (::unlink(index_path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoError(index_path, "cannot remove");
  }

  // Each file is created at its full size with its header: a layout-only
  // file is then complete (its data section a sparse hole).
  std::vector<SafetensorsFileWriter> files;
  for (const ShardLayout& shard : shards) {
    BLOOM_ASSIGN_OR_RETURN(
        SafetensorsFileWriter file,
        SafetensorsFileWriter::Create(JoinPath(out_dir, shard.file_name), shard.layout));
    files.push_back(std::move(file));
  }

  int threads =
      options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(threads, 1);
  absl::Status written =
      options.layout_only ? absl::OkStatus() : WriteValues(specs, shards, files, options, threads);
  for (SafetensorsFileWriter& file : files) {
    absl::Status closed = file.Close();
    if (written.ok()) written = closed;
  }
  BLOOM_RETURN_IF_ERROR(written);
  if (options.max_shard_bytes > 0) {
    BLOOM_RETURN_IF_ERROR(WriteText(index_path, IndexJson(specs, shards)));
  }

  SyntheticCheckpointSummary summary;
  summary.tensors = static_cast<int64_t>(specs.size());
  for (const SyntheticTensorSpec& spec : specs) summary.parameters += spec.NumElements();
  summary.data_bytes = StorageBytes(options.dtype, static_cast<uint64_t>(summary.parameters));
  summary.files = static_cast<int>(shards.size());
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace bloom::tools
