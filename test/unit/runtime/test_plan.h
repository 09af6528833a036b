// A tiny, hand-written plan for runtime tests that must not depend on the
// compiler: embedding -> layer norm -> gather rows -> linear (tied LM head),
// vocab 5, hidden 4, plus the safetensors checkpoint it reads. Tests mutate
// the TestPlanSpec to produce invalid plans.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flatbuffers/flatbuffers.h"
#include "runtime/plan/plan_generated.h"

namespace bloom::testing {

struct TestTensor {
  std::string name;
  plan::TensorKind kind;
  plan::TensorRole role;
  plan::DType dtype;
  std::vector<int64_t> shape;
  plan::RowDim rows;
  uint64_t arena_offset = 0;
  std::string source_tensor;  // weights only
};

struct TestInstruction {
  plan::Kernel kernel;
  std::vector<uint32_t> operands, results;
  float epsilon = 1e-5f;
};

struct TestPlanSpec {
  uint32_t schema_version;
  std::string checkpoint_dir;
  int32_t max_batch_tokens = 8, max_seq_len = 16, max_sequences = 2, max_logit_rows = 8;
  uint64_t arena_bytes = 800;
  int32_t pp_stage = 0, pp_size = 1;  // pipeline position (plan.fbs)
  std::vector<TestTensor> tensors;
  std::vector<TestInstruction> instructions;
};

inline constexpr int kVocab = 5;
inline constexpr int kHidden = 4;

// The valid baseline plan, reading `checkpoint_dir`/model.safetensors.
TestPlanSpec MakeTestPlanSpec(const std::string& checkpoint_dir);
std::vector<uint8_t> SerializeTestPlan(const TestPlanSpec& spec);

// Writes `dir`/model.safetensors with word_embeddings.weight [5,4],
// ln.weight [4] and ln.bias [4] (F32) from the given values.
void WriteTestCheckpoint(const std::string& dir, const std::vector<float>& embeddings,
                         const std::vector<float>& gamma, const std::vector<float>& beta);

}  // namespace bloom::testing
