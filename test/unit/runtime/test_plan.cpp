#include "test/unit/runtime/test_plan.h"

#include <cstring>
#include <fstream>

#include "runtime/plan/plan_version.h"

namespace bloom::testing {

using plan::DType;
using plan::RowDim;
using plan::TensorKind;
using plan::TensorRole;

TestPlanSpec MakeTestPlanSpec(const std::string& checkpoint_dir) {
  TestPlanSpec spec;
  spec.schema_version = plan::kPlanSchemaVersion;
  spec.checkpoint_dir = checkpoint_dir;
  // Offsets: each step input holds 8 i32 (32 bytes) in a 64-byte slot; the
  // activations hold 8 rows.
  spec.tensors = {
      {"token_ids", TensorKind::StepInput, TensorRole::TokenIds, DType::I32, {-1}, RowDim::Tokens, 0},
      {"positions", TensorKind::StepInput, TensorRole::Positions, DType::I32, {-1}, RowDim::Tokens, 64},
      {"sequence_slots", TensorKind::StepInput, TensorRole::SequenceSlots, DType::I32, {-1}, RowDim::Tokens, 128},
      {"logit_rows", TensorKind::StepInput, TensorRole::LogitRows, DType::I32, {-1}, RowDim::LogitRows, 192},
      {"word_embeddings.weight", TensorKind::Weight, TensorRole::None, DType::F32, {kVocab, kHidden}, RowDim::Static, 0, "word_embeddings.weight"},
      {"ln.weight", TensorKind::Weight, TensorRole::None, DType::F32, {kHidden}, RowDim::Static, 0, "ln.weight"},
      {"ln.bias", TensorKind::Weight, TensorRole::None, DType::F32, {kHidden}, RowDim::Static, 0, "ln.bias"},
      {"embeddings", TensorKind::Activation, TensorRole::None, DType::F32, {-1, kHidden}, RowDim::Tokens, 256},
      {"embeddings_norm", TensorKind::Activation, TensorRole::None, DType::F32, {-1, kHidden}, RowDim::Tokens, 384},
      {"logit_hidden", TensorKind::Activation, TensorRole::None, DType::F32, {-1, kHidden}, RowDim::LogitRows, 512},
      {"logits", TensorKind::Activation, TensorRole::Logits, DType::F32, {-1, kVocab}, RowDim::LogitRows, 640},
  };
  spec.instructions = {
      {plan::Kernel::EmbeddingGather, {0, 4}, {7}},
      {plan::Kernel::LayerNorm, {7, 5, 6}, {8}},
      {plan::Kernel::GatherRows, {8, 3}, {9}},
      {plan::Kernel::Linear, {9, 4}, {10}},
  };
  return spec;
}

std::vector<uint8_t> SerializeTestPlan(const TestPlanSpec& spec) {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<flatbuffers::Offset<plan::Tensor>> tensors;
  for (const TestTensor& t : spec.tensors) {
    flatbuffers::Offset<plan::WeightSource> source = 0;
    if (!t.source_tensor.empty()) {
      source = plan::CreateWeightSourceDirect(fbb, "model.safetensors", t.source_tensor.c_str(), DType::F32);
    }
    tensors.push_back(plan::CreateTensorDirect(fbb, t.name.c_str(), t.kind, t.role, t.dtype, &t.shape,
                                               t.rows, t.arena_offset, source));
  }
  std::vector<flatbuffers::Offset<plan::Instruction>> instructions;
  for (const TestInstruction& inst : spec.instructions) {
    flatbuffers::Offset<void> params;
    switch (inst.kernel) {
      case plan::Kernel::EmbeddingGather: params = plan::CreateEmbeddingGather(fbb).Union(); break;
      case plan::Kernel::LayerNorm: params = plan::CreateLayerNorm(fbb, inst.epsilon).Union(); break;
      case plan::Kernel::GatherRows: params = plan::CreateGatherRows(fbb).Union(); break;
      case plan::Kernel::Linear: params = plan::CreateLinear(fbb).Union(); break;
      case plan::Kernel::AlibiAttention: {
        // The test KV cache's one layer and head (kHidden dims).
        const std::vector<float> slopes = {0.5f};
        params = plan::CreateAlibiAttentionDirect(fbb, /*layer=*/0, /*num_heads=*/1,
                                                  /*head_dim=*/kHidden, &slopes)
                     .Union();
        break;
      }
      default: params = plan::CreateAdd(fbb).Union(); break;
    }
    instructions.push_back(plan::CreateInstructionDirect(fbb, inst.kernel, params, &inst.operands,
                                                         &inst.results));
  }
  auto limits = plan::CreateLimits(fbb, spec.max_batch_tokens, spec.max_seq_len, spec.max_sequences,
                                   spec.max_logit_rows);
  auto kv = plan::CreateKvCache(fbb, /*num_layers=*/1, /*num_heads=*/1, /*head_dim=*/kHidden,
                                /*block_size=*/4, /*num_blocks=*/8, DType::F32);
  auto root = plan::CreatePlanDirect(fbb, spec.schema_version, "test", "test-model",
                                     spec.checkpoint_dir.c_str(), limits, kv, spec.arena_bytes,
                                     &tensors, &instructions, /*eos_token_id=*/-1,
                                     /*tp_rank=*/0, /*tp_size=*/1, /*weight_units=*/nullptr,
                                     /*num_weight_slots=*/0, /*weight_slot_bytes=*/0,
                                     spec.pp_stage, spec.pp_size);
  plan::FinishPlanBuffer(fbb, root);
  return std::vector<uint8_t>(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
}

void WriteTestCheckpoint(const std::string& dir, const std::vector<float>& embeddings,
                         const std::vector<float>& gamma, const std::vector<float>& beta) {
  const size_t e = embeddings.size() * 4, g = gamma.size() * 4, b = beta.size() * 4;
  std::string header = "{\"word_embeddings.weight\":{\"dtype\":\"F32\",\"shape\":[5,4],\"data_offsets\":[0," +
                       std::to_string(e) + "]},\"ln.weight\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[" +
                       std::to_string(e) + "," + std::to_string(e + g) +
                       "]},\"ln.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[" +
                       std::to_string(e + g) + "," + std::to_string(e + g + b) + "]}}";
  std::ofstream out(dir + "/model.safetensors", std::ios::binary);
  const uint64_t n = header.size();
  out.write(reinterpret_cast<const char*>(&n), 8);  // little-endian host
  out.write(header.data(), header.size());
  out.write(reinterpret_cast<const char*>(embeddings.data()), e);
  out.write(reinterpret_cast<const char*>(gamma.data()), g);
  out.write(reinterpret_cast<const char*>(beta.data()), b);
}

}  // namespace bloom::testing
