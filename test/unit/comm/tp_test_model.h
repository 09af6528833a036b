// A small transformer written by hand as tensor-parallel plans, for runtime
// tests that must not depend on the compiler's partitioning pass: per rank,
//   vocab-parallel embedding (masked lookup) → AllReduce → layer norm →
//   per layer: layer norm → column-parallel QKV → ALiBi attention over the
//   rank's heads (slopes by global head index) → row-parallel dense
//   (bias on rank 0 only) → AllReduce → residual add → layer norm →
//   column-parallel h→4h with GELU → row-parallel 4h→h (bias on rank 0)
//   → AllReduce → residual add →
//   final layer norm → gather rows → vocab-parallel LM head (tied to the
//   embedding) → AllGather → logits.
// A tp=1 plan has the same program without collectives or slices. The
// default shapes (12 heads, vocab 36) divide by 1, 2, 3 and 4 ranks; 12 and
// 3 are not powers of two.
//
// ReferenceLogits computes the same model directly (double precision, whole
// sequences, no KV cache, no partitioning), independently of the runtime.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/exec/executor.h"

namespace bloom::testing {

struct TpModelDims {
  int vocab = 36;
  int heads = 12;
  int head_dim = 4;
  int layers = 2;
  int hidden() const { return heads * head_dim; }
  int ffn() const { return 4 * hidden(); }
  // Plan limits.
  int max_batch_tokens = 16, max_seq_len = 32, max_sequences = 4, max_logit_rows = 8;
  int block_size = 4, num_blocks = 32;
};

// Tensor name → values (row-major, the checkpoint's [out, in] layout).
using TpWeights = std::map<std::string, std::vector<float>>;

TpWeights MakeTpWeights(const TpModelDims& dims, uint32_t seed);
// ALiBi slopes of the global heads (any distinct positive values do).
std::vector<float> TpSlopes(const TpModelDims& dims);

// Writes `dir`/model.safetensors (F32) holding `weights`.
void WriteTpCheckpoint(const std::string& dir, const TpModelDims& dims, const TpWeights& weights);

// Changes to a rank's plan, for failure tests.
struct TpPlanTweaks {
  // The plan's checkpoint_dir instead of the real one (a missing file).
  std::string checkpoint_dir;
  // The embedding's vocab_size instead of the model's (vocab_begin becomes
  // 0 and the rank's table rows must fit): ids at or past it fail on this
  // rank alone, mid-step.
  int64_t embedding_vocab_size = -1;
  // Plan limits other than the model's (plans that disagree across ranks).
  int max_batch_tokens = 0;
  // Invalid plans, for the validator: an embedding slice one row longer
  // than its tensor; logits wider or narrower than the AllGather gives; a
  // tp_rank other than `rank`.
  bool slice_past_shape = false;
  int logits_columns_delta = 0;
  int tp_rank = -1;
};

// A pipeline stage of the model (plan.fbs's pp_stage of pp_size): layers
// [layer_begin, layer_end). Stage 0 embeds the token ids; a later stage
// starts from a HiddenIn input [T, hidden] (the previous stage's residual
// stream); a stage before the last ends with its last layer's output as
// HiddenOut; the last adds the final norm and the LM head. A stage's KV
// cache holds its own layers only (attention layer l - layer_begin).
struct TpPipelineStage {
  int stage = 0;
  int pp = 1;
  int layer_begin = 0;
  int layer_end = -1;  // -1: dims.layers
};

// Rank `rank` of a tp=`tp` plan reading `checkpoint_dir`/model.safetensors
// (the whole model, or pipeline stage `position`).
std::vector<uint8_t> BuildTpPlan(const TpModelDims& dims, const std::string& checkpoint_dir, int rank,
                                 int tp, const TpPlanTweaks& tweaks = {},
                                 const TpPipelineStage& position = {});
// Writes a plan directory: plan.bplan for tp 1, plan.rank<R>.bplan otherwise.
void WriteTpPlanDir(const std::string& plan_dir, const TpModelDims& dims,
                    const std::string& checkpoint_dir, int tp);
void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes);
// The pipeline tests' model (3 layers: pp=2 is a split 2 does not divide)
// and the directories they share under `dir`: the checkpoint of `weights`,
// whole/ (tp=1, pp=1), pp2/ (layer 0 | layers 1, 2), pp2tp2/ (layers 0, 1 |
// layer 2, tp=2 each).
TpModelDims PipelineTestDims();
void WritePipelineTestDirs(const std::string& dir, const TpWeights& weights);
// A test suite's temporary directory (/tmp/bloom-<name>-XXXXXX) holding
// WritePipelineTestDirs' files for weights of `seed`; removed when it goes.
struct PipelineTestFiles {
  PipelineTestFiles(const std::string& name, uint32_t seed);
  ~PipelineTestFiles();
  // Makes dir/sub and returns its path.
  std::string MakeDir(const std::string& sub) const;
  std::string dir;
  TpWeights weights;
};

// Writes a pipeline plan directory, plan.stage<S>.rank<R>.bplan: stage S
// holds layers [cuts[S - 1], cuts[S]) (cuts[-1] = 0; cuts has pp - 1
// entries, then dims.layers ends the last stage). `tweaks` apply to stage
// `tweaked_stage`, rank `tweaked_rank` only.
void WriteTpPipelineDir(const std::string& plan_dir, const TpModelDims& dims,
                        const std::string& checkpoint_dir, int tp, const std::vector<int>& cuts,
                        const TpPlanTweaks& tweaks = {}, int tweaked_stage = -1, int tweaked_rank = -1);

// The scenario every TP test runs on a group: two sequences, a first step
// holding both prompts (A: 5 tokens, B: 3 tokens; logits of all 8 rows),
// then one decode step for each (A position 5, B position 3). Returns the
// 10 logit rows in that order.
inline const std::vector<int32_t> kScenarioA = {3, 17, 5, 30, 8, 1};
inline const std::vector<int32_t> kScenarioB = {22, 0, 35, 9};
absl::StatusOr<std::vector<std::vector<float>>> RunTpScenario(StepExecutor& executor);
// The reference rows of the same scenario.
std::vector<std::vector<double>> ReferenceScenario(const TpModelDims& dims, const TpWeights& weights);

// The logits of every position of `tokens` (one sequence, positions 0..n-1):
// [n, vocab], computed directly from the weights.
std::vector<std::vector<double>> ReferenceLogits(const TpModelDims& dims, const TpWeights& weights,
                                                 const std::vector<int32_t>& tokens);

}  // namespace bloom::testing
