#include "test/unit/runtime/tiered_test_plan.h"

#include <algorithm>
#include <fstream>

#include "flatbuffers/flatbuffers.h"
#include "runtime/plan/plan_version.h"
#include "runtime/support/dtype.h"

namespace bloom::testing {
namespace {

using plan::DType;
using plan::Kernel;
using plan::Residency;
using plan::RowDim;
using plan::TensorKind;
using plan::TensorRole;

constexpr float kEpsilon = 1e-5f;

uint64_t RoundUp(uint64_t v, uint64_t to) { return (v + to - 1) / to * to; }

uint64_t ElementBytes(DType dtype) { return dtype == DType::F32 || dtype == DType::I32 ? 4 : 2; }

std::string LayerName(int layer, const char* what) {
  return "h." + std::to_string(layer) + "." + what;
}

class SpecBuilder {
 public:
  SpecBuilder(TieredPlanSpec& spec, DType weight_dtype)
      : spec_(spec), weight_dtype_(weight_dtype) {}

  uint32_t Input(const char* name, TensorRole role, RowDim rows) {
    return Arena({{name, TensorKind::StepInput, role, DType::I32, {-1}, rows}}, 4);
  }
  uint32_t Activation(const std::string& name, int64_t columns, RowDim rows = RowDim::Tokens,
                      TensorRole role = TensorRole::None) {
    return Arena({{name, TensorKind::Activation, role, DType::F32, {-1, columns}, rows}},
                 4 * columns);
  }
  // A weight of the current unit (or resident when there is none).
  uint32_t Weight(const std::string& name, std::vector<int64_t> shape) {
    TieredTensor t{{name, TensorKind::Weight, TensorRole::None, weight_dtype_, shape,
                    RowDim::Static, 0, name}};
    if (unit_ >= 0) {
      uint64_t bytes = ElementBytes(weight_dtype_);
      for (int64_t d : shape) bytes *= static_cast<uint64_t>(d);
      t.stream_unit = unit_;
      t.slot_offset = unit_used_;
      unit_used_ = RoundUp(unit_used_ + bytes, 256);
    }
    spec_.tensors.push_back(t);
    return static_cast<uint32_t>(spec_.tensors.size() - 1);
  }
  void Instruction(Kernel kernel, std::vector<uint32_t> operands, std::vector<uint32_t> results,
                   plan::Epilogue epilogue = plan::Epilogue::None, int32_t layer = 0) {
    spec_.instructions.push_back({kernel, operands, results, epilogue, layer, 0});
  }
  void Stream(Kernel kernel, int32_t unit) {
    spec_.instructions.push_back({kernel, {}, {}, {}, 0, unit});
  }

  // Weights created until EndUnit belong to `unit`.
  void BeginUnit(int32_t unit) {
    unit_ = unit;
    unit_used_ = 0;
  }
  void EndUnit() {
    if (unit_ < 0) return;
    spec_.units[unit_].bytes = RoundUp(std::max<uint64_t>(unit_used_, 1), 4096);
    unit_ = -1;
  }

 private:
  uint32_t Arena(TieredTensor t, uint64_t row_bytes) {
    const uint64_t rows =
        t.rows == RowDim::LogitRows ? spec_.dims.max_logit_rows : spec_.dims.max_batch_tokens;
    t.arena_offset = spec_.arena_bytes;
    spec_.arena_bytes += RoundUp(row_bytes * rows, 64);
    spec_.tensors.push_back(t);
    return static_cast<uint32_t>(spec_.tensors.size() - 1);
  }

  TieredPlanSpec& spec_;
  DType weight_dtype_;
  int32_t unit_ = -1;
  uint64_t unit_used_ = 0;
};

}  // namespace

TieredPlanSpec MakeTieredPlanSpec(const TpModelDims& d, const std::string& checkpoint_dir,
                                  const TieringLayout& layout) {
  TieredPlanSpec spec;
  spec.dims = d;
  spec.checkpoint_dir = checkpoint_dir;
  // Units: one per streamed layer, slot u mod S.
  std::vector<int32_t> layer_unit(d.layers, -1);
  for (int l = 0; l < d.layers && l < static_cast<int>(layout.layers.size()); ++l) {
    if (layout.layers[l] == Residency::Device) continue;
    layer_unit[l] = static_cast<int32_t>(spec.units.size());
    TieredUnit unit{"h." + std::to_string(l), layout.layers[l]};
    unit.slot = layer_unit[l] % layout.num_slots;
    if (unit.residency == Residency::Disk) unit.file = layout.disk_file;
    spec.units.push_back(unit);
  }
  const int32_t streamed = static_cast<int32_t>(spec.units.size());
  if (streamed > 0) spec.num_weight_slots = layout.num_slots;

  SpecBuilder b(spec, layout.weight_dtype);
  const int h = d.hidden(), f = d.ffn();
  auto layer_norm = [&](uint32_t x, const std::string& prefix, const std::string& name) {
    const uint32_t g = b.Weight(prefix + ".weight", {h});
    const uint32_t beta = b.Weight(prefix + ".bias", {h});
    const uint32_t y = b.Activation(name, h);
    b.Instruction(Kernel::LayerNorm, {x, g, beta}, {y});
    return y;
  };
  const uint32_t ids = b.Input("token_ids", TensorRole::TokenIds, RowDim::Tokens);
  const uint32_t positions = b.Input("positions", TensorRole::Positions, RowDim::Tokens);
  const uint32_t slots = b.Input("sequence_slots", TensorRole::SequenceSlots, RowDim::Tokens);
  const uint32_t logit_rows = b.Input("logit_rows", TensorRole::LogitRows, RowDim::LogitRows);
  for (int32_t u = 0; u < std::min(streamed, layout.num_slots); ++u)
    b.Stream(Kernel::PrefetchWeights, u);

  const uint32_t table = b.Weight("word_embeddings.weight", {d.vocab, h});
  const uint32_t embedded = b.Activation("embeddings", h);
  b.Instruction(Kernel::EmbeddingGather, {ids, table}, {embedded});
  uint32_t hidden = layer_norm(embedded, "word_embeddings_layernorm", "embeddings_norm");
  for (int l = 0; l < d.layers; ++l) {
    auto name = [&](const char* what) { return LayerName(l, what); };
    const int32_t unit = layer_unit[l];
    if (unit >= 0) {
      b.Stream(Kernel::AwaitWeights, unit);
      b.BeginUnit(unit);
    }
    const uint32_t a = layer_norm(hidden, name("input_layernorm"), name("attn_norm"));
    const uint32_t wqkv = b.Weight(name("self_attention.query_key_value.weight"), {3 * h, h});
    const uint32_t bqkv = b.Weight(name("self_attention.query_key_value.bias"), {3 * h});
    const uint32_t qkv = b.Activation(name("qkv"), 3 * h);
    b.Instruction(Kernel::Linear, {a, wqkv, bqkv}, {qkv});
    const uint32_t context = b.Activation(name("context"), h);
    b.Instruction(Kernel::AlibiAttention, {qkv, positions, slots}, {context}, plan::Epilogue::None,
                  l);
    const uint32_t wd = b.Weight(name("self_attention.dense.weight"), {h, h});
    const uint32_t bd = b.Weight(name("self_attention.dense.bias"), {h});
    const uint32_t attn = b.Activation(name("attn_out"), h);
    b.Instruction(Kernel::Linear, {context, wd, bd}, {attn});
    const uint32_t residual = b.Activation(name("attn_residual"), h);
    b.Instruction(Kernel::Add, {hidden, attn}, {residual});
    const uint32_t m = layer_norm(residual, name("post_attention_layernorm"), name("mlp_norm"));
    const uint32_t w1 = b.Weight(name("mlp.dense_h_to_4h.weight"), {f, h});
    const uint32_t b1 = b.Weight(name("mlp.dense_h_to_4h.bias"), {f});
    const uint32_t up = b.Activation(name("mlp_gelu"), f);
    b.Instruction(Kernel::Linear, {m, w1, b1}, {up}, plan::Epilogue::Gelu);
    const uint32_t w2 = b.Weight(name("mlp.dense_4h_to_h.weight"), {h, f});
    const uint32_t b2 = b.Weight(name("mlp.dense_4h_to_h.bias"), {h});
    const uint32_t down = b.Activation(name("mlp_out"), h);
    b.Instruction(Kernel::Linear, {up, w2, b2}, {down});
    const uint32_t next = b.Activation(name("output"), h);
    b.Instruction(Kernel::Add, {residual, down}, {next});
    hidden = next;
    if (unit >= 0) {
      b.EndUnit();
      if (unit + layout.num_slots < streamed)
        b.Stream(Kernel::PrefetchWeights, unit + layout.num_slots);
    }
  }
  const uint32_t final_norm = layer_norm(hidden, "ln_f", "final_norm");
  const uint32_t picked = b.Activation("logit_hidden", h, RowDim::LogitRows);
  b.Instruction(Kernel::GatherRows, {final_norm, logit_rows}, {picked});
  const uint32_t logits = b.Activation("logits", d.vocab, RowDim::LogitRows, TensorRole::Logits);
  b.Instruction(Kernel::Linear, {picked, table}, {logits});

  // Disk units one after another in their file; the slot holds the largest.
  uint64_t file_end = 0;
  for (TieredUnit& unit : spec.units) {
    spec.weight_slot_bytes = std::max(spec.weight_slot_bytes, unit.bytes);
    if (unit.residency != Residency::Disk) continue;
    unit.file_offset = file_end;
    file_end += unit.bytes;
  }
  return spec;
}

std::vector<uint8_t> SerializeTieredPlan(const TieredPlanSpec& spec) {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<flatbuffers::Offset<plan::Tensor>> tensors;
  for (const TieredTensor& t : spec.tensors) {
    flatbuffers::Offset<plan::WeightSource> source = 0;
    if (!t.source_tensor.empty()) {
      source =
          plan::CreateWeightSourceDirect(fbb, "model.safetensors", t.source_tensor.c_str(), DType::F32);
    }
    tensors.push_back(plan::CreateTensorDirect(fbb, t.name.c_str(), t.kind, t.role, t.dtype,
                                               &t.shape, t.rows, t.arena_offset, source,
                                               t.stream_unit, t.slot_offset));
  }
  const std::vector<float> slopes = TpSlopes(spec.dims);
  std::vector<flatbuffers::Offset<plan::Instruction>> instructions;
  for (const TieredInstruction& inst : spec.instructions) {
    flatbuffers::Offset<void> params;
    switch (inst.kernel) {
      case Kernel::EmbeddingGather:
        params = plan::CreateEmbeddingGather(fbb).Union();
        break;
      case Kernel::LayerNorm:
        params = plan::CreateLayerNorm(fbb, kEpsilon).Union();
        break;
      case Kernel::Linear:
        params = plan::CreateLinear(fbb, inst.epilogue).Union();
        break;
      case Kernel::AlibiAttention:
        params = plan::CreateAlibiAttentionDirect(fbb, inst.layer, spec.dims.heads,
                                                  spec.dims.head_dim, &slopes)
                     .Union();
        break;
      case Kernel::GatherRows:
        params = plan::CreateGatherRows(fbb).Union();
        break;
      case Kernel::PrefetchWeights:
        params = plan::CreatePrefetchWeights(fbb, inst.unit).Union();
        break;
      case Kernel::AwaitWeights:
        params = plan::CreateAwaitWeights(fbb, inst.unit).Union();
        break;
      default:
        params = plan::CreateAdd(fbb).Union();
        break;
    }
    instructions.push_back(
        plan::CreateInstructionDirect(fbb, inst.kernel, params, &inst.operands, &inst.results));
  }
  std::vector<flatbuffers::Offset<plan::WeightUnit>> units;
  for (const TieredUnit& u : spec.units) {
    units.push_back(plan::CreateWeightUnitDirect(fbb, u.name.c_str(), u.residency, u.bytes, u.slot,
                                                 u.file.empty() ? nullptr : u.file.c_str(),
                                                 u.file_offset));
  }
  const TpModelDims& d = spec.dims;
  auto limits =
      plan::CreateLimits(fbb, d.max_batch_tokens, d.max_seq_len, d.max_sequences, d.max_logit_rows);
  auto kv = plan::CreateKvCache(fbb, d.layers, d.heads, d.head_dim, d.block_size, d.num_blocks,
                                DType::F32);
  auto root = plan::CreatePlanDirect(
      fbb, plan::kPlanSchemaVersion, "tiered_test_plan", "tiered-test", spec.checkpoint_dir.c_str(),
      limits, kv, spec.arena_bytes, &tensors, &instructions, -1, 0, 1,
      spec.units.empty() ? nullptr : &units, spec.num_weight_slots, spec.weight_slot_bytes);
  plan::FinishPlanBuffer(fbb, root);
  return std::vector<uint8_t>(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
}

void WriteDiskUnits(const TieredPlanSpec& spec, const TpWeights& weights,
                    const std::string& plan_dir) {
  std::map<std::string, std::vector<uint8_t>> files;
  for (const TieredUnit& unit : spec.units) {
    if (unit.residency != Residency::Disk) continue;
    std::vector<uint8_t>& bytes = files[unit.file];
    bytes.resize(std::max<uint64_t>(bytes.size(), unit.file_offset + unit.bytes), 0);
  }
  for (const TieredTensor& t : spec.tensors) {
    if (t.stream_unit < 0 || spec.units[t.stream_unit].residency != Residency::Disk) continue;
    const TieredUnit& unit = spec.units[t.stream_unit];
    const std::vector<float>& values = weights.at(t.source_tensor);
    const DType dtype = t.dtype;
    ConvertFromFloat32(dtype == DType::F32   ? bloom::DType::kF32
                       : dtype == DType::F16 ? bloom::DType::kF16
                                             : bloom::DType::kBF16,
                       values.data(), files[unit.file].data() + unit.file_offset + t.slot_offset,
                       values.size());
  }
  for (const auto& [name, bytes] : files) {
    std::ofstream(plan_dir + "/" + name, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
  }
}

int FindTensor(const TieredPlanSpec& spec, const std::string& name) {
  for (size_t i = 0; i < spec.tensors.size(); ++i) {
    if (spec.tensors[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

int FindStreamInstruction(const TieredPlanSpec& spec, plan::Kernel kernel, int32_t unit) {
  for (size_t i = 0; i < spec.instructions.size(); ++i) {
    if (spec.instructions[i].kernel == kernel && spec.instructions[i].unit == unit)
      return static_cast<int>(i);
  }
  return -1;
}

}  // namespace bloom::testing
