// Writes a BLOOM checkpoint directory of random weights at the shapes of a
// config.json: config.json, the safetensors file(s) and, when sharded,
// model.safetensors.index.json, laid out as transformers' save_pretrained
// lays them out. Benchmarks at real shapes need real-sized weights but not
// trained ones, and 14 GB of bloom-7b1 weights are faster to make on the
// machine that uses them than to move there.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/support/dtype.h"
#include "tools/make-synthetic-checkpoint/tensor_specs.h"

namespace bloom::tools {

struct SyntheticCheckpointOptions {
  DType dtype = DType::kBF16;  // kF32, kF16 or kBF16
  uint64_t seed = 0;
  // 0: one model.safetensors; otherwise shards of at most this many data
  // bytes plus an index (see shard_layout.h).
  int64_t max_shard_bytes = 0;
  // Generating threads; 0 uses every hardware thread.
  int threads = 0;
  // Headers and file sizes only: the data sections are holes of sparse
  // files, which take no disk. Names, dtypes, shapes and offsets are
  // exactly those of a full write with the same options, and each header
  // records the seed and distributions (generated_weights.h), so bloom-run
  // and bloom-compile read from it the values a full write stores, made as
  // they are read; transformers would read zeros. A plan compiled against
  // it also runs against the full checkpoint (bloom-run --checkpoint-dir).
  bool layout_only = false;
  SyntheticScales scales;
};

struct SyntheticCheckpointSummary {
  int64_t tensors = 0;
  int64_t parameters = 0;
  uint64_t data_bytes = 0;  // tensor bytes, all files
  int files = 0;            // safetensors files
  double seconds = 0.0;     // wall time of the whole write
};

// Reads `config_path` (a BLOOM config.json, either key spelling), creates
// `out_dir` if needed and writes the checkpoint into it, replacing files of
// the same names. config.json is written back with "dtype" set to the
// stored precision; its "tie_word_embeddings" (default true) decides whether
// an lm_head.weight is stored. Errors name the file and the problem.
absl::StatusOr<SyntheticCheckpointSummary> WriteSyntheticCheckpoint(
    const std::string& config_path, const std::string& out_dir,
    const SyntheticCheckpointOptions& options);

}  // namespace bloom::tools
