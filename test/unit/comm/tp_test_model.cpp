#include "test/unit/comm/tp_test_model.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>

#include <sys/stat.h>

#include "flatbuffers/flatbuffers.h"
#include "runtime/plan/plan_generated.h"
#include "runtime/plan/plan_version.h"

namespace bloom::testing {
namespace {

using plan::DType;
using plan::RowDim;
using plan::TensorKind;
using plan::TensorRole;

constexpr float kEpsilon = 1e-5f;

std::string LayerName(int layer, const char* what) { return "h." + std::to_string(layer) + "." + what; }

// Builds one plan's tensors and instructions; every activation gets its own
// arena range (no sharing, so liveness holds trivially).
class Builder {
 public:
  Builder(const TpModelDims& dims, int max_batch_tokens) : dims_(dims), max_tokens_(max_batch_tokens) {}

  uint32_t Input(const char* name, TensorRole role, RowDim rows) {
    return Add(name, TensorKind::StepInput, role, DType::I32, {-1}, rows, 4);
  }
  // A pipeline stage's hidden state in: [T, columns] F32.
  uint32_t HiddenInput(const char* name, int64_t columns) {
    return Add(name, TensorKind::StepInput, TensorRole::HiddenIn, DType::F32, {-1, columns},
               RowDim::Tokens, 4 * columns);
  }
  uint32_t Activation(const std::string& name, int64_t columns, RowDim rows = RowDim::Tokens,
                      TensorRole role = TensorRole::None) {
    return Add(name, TensorKind::Activation, role, DType::F32, {-1, columns}, rows, 4 * columns);
  }
  // A weight holding [begin, end) of dimension `dim` of the stored tensor
  // `stored` (or all of it for dim -1).
  uint32_t Weight(const std::string& stored, std::vector<int64_t> stored_shape, int dim = -1,
                  int64_t begin = 0, int64_t end = 0) {
    std::vector<int64_t> shape = stored_shape;
    if (dim >= 0) shape[dim] = end - begin;
    return WeightWithShape(stored, shape, dim, begin, end);
  }
  // As Weight, with the plan's shape given (possibly inconsistent).
  uint32_t WeightWithShape(const std::string& stored, std::vector<int64_t> shape, int dim, int64_t begin,
                           int64_t end) {
    auto source = plan::CreateWeightSourceDirect(fbb_, "model.safetensors", stored.c_str(), DType::F32,
                                                 dim, dim >= 0 ? begin : 0, dim >= 0 ? end : 0);
    tensors_.push_back(plan::CreateTensorDirect(fbb_, stored.c_str(), TensorKind::Weight, TensorRole::None,
                                                DType::F32, &shape, RowDim::Static, 0, source));
    return static_cast<uint32_t>(tensors_.size() - 1);
  }
  void Instruction(plan::Kernel kernel, flatbuffers::Offset<void> params, std::vector<uint32_t> operands,
                   std::vector<uint32_t> results) {
    instructions_.push_back(plan::CreateInstructionDirect(fbb_, kernel, params, &operands, &results));
  }
  flatbuffers::FlatBufferBuilder& fbb() { return fbb_; }

  std::vector<uint8_t> Finish(const TpModelDims& dims, const std::string& checkpoint_dir, int rank, int tp,
                              int kv_heads, int kv_layers, int pp_stage = 0, int pp_size = 1) {
    auto limits = plan::CreateLimits(fbb_, max_tokens_, dims.max_seq_len, dims.max_sequences,
                                     dims.max_logit_rows);
    auto kv = plan::CreateKvCache(fbb_, kv_layers, kv_heads, dims.head_dim, dims.block_size,
                                  dims.num_blocks, DType::F32);
    auto root = plan::CreatePlanDirect(fbb_, plan::kPlanSchemaVersion, "tp_test_model", "tp-test",
                                       checkpoint_dir.c_str(), limits, kv, arena_, &tensors_,
                                       &instructions_, -1, rank, tp, nullptr, 0, 0, pp_stage, pp_size);
    plan::FinishPlanBuffer(fbb_, root);
    return std::vector<uint8_t>(fbb_.GetBufferPointer(), fbb_.GetBufferPointer() + fbb_.GetSize());
  }

 private:
  uint32_t Add(const std::string& name, TensorKind kind, TensorRole role, DType dtype,
               std::vector<int64_t> shape, RowDim rows, uint64_t row_bytes) {
    const uint64_t capacity =
        row_bytes * (rows == RowDim::LogitRows ? dims_.max_logit_rows : max_tokens_);
    tensors_.push_back(plan::CreateTensorDirect(fbb_, name.c_str(), kind, role, dtype, &shape, rows, arena_));
    arena_ += (capacity + 63) / 64 * 64;
    return static_cast<uint32_t>(tensors_.size() - 1);
  }

  const TpModelDims& dims_;
  int max_tokens_;
  flatbuffers::FlatBufferBuilder fbb_;
  std::vector<flatbuffers::Offset<plan::Tensor>> tensors_;
  std::vector<flatbuffers::Offset<plan::Instruction>> instructions_;
  uint64_t arena_ = 0;
};

}  // namespace

TpWeights MakeTpWeights(const TpModelDims& d, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  auto fill = [&](size_t n, float scale, float mean = 0.f) {
    std::vector<float> v(n);
    for (float& x : v) x = mean + scale * normal(rng);
    return v;
  };
  const int h = d.hidden(), f = d.ffn();
  TpWeights w;
  w["word_embeddings.weight"] = fill(size_t{1} * d.vocab * h, 1.f);
  w["word_embeddings_layernorm.weight"] = fill(h, 0.1f, 1.f);
  w["word_embeddings_layernorm.bias"] = fill(h, 0.1f);
  for (int l = 0; l < d.layers; ++l) {
    w[LayerName(l, "input_layernorm.weight")] = fill(h, 0.1f, 1.f);
    w[LayerName(l, "input_layernorm.bias")] = fill(h, 0.1f);
    w[LayerName(l, "self_attention.query_key_value.weight")] = fill(size_t{3} * h * h, 0.3f);
    w[LayerName(l, "self_attention.query_key_value.bias")] = fill(3 * h, 0.1f);
    w[LayerName(l, "self_attention.dense.weight")] = fill(size_t{1} * h * h, 0.15f);
    w[LayerName(l, "self_attention.dense.bias")] = fill(h, 0.1f);
    w[LayerName(l, "post_attention_layernorm.weight")] = fill(h, 0.1f, 1.f);
    w[LayerName(l, "post_attention_layernorm.bias")] = fill(h, 0.1f);
    w[LayerName(l, "mlp.dense_h_to_4h.weight")] = fill(size_t{1} * f * h, 0.15f);
    w[LayerName(l, "mlp.dense_h_to_4h.bias")] = fill(f, 0.1f);
    w[LayerName(l, "mlp.dense_4h_to_h.weight")] = fill(size_t{1} * h * f, 0.08f);
    w[LayerName(l, "mlp.dense_4h_to_h.bias")] = fill(h, 0.1f);
  }
  w["ln_f.weight"] = fill(h, 0.1f, 1.f);
  w["ln_f.bias"] = fill(h, 0.1f);
  return w;
}

std::vector<float> TpSlopes(const TpModelDims& dims) {
  std::vector<float> slopes(dims.heads);
  for (int i = 0; i < dims.heads; ++i) slopes[i] = std::pow(2.f, -0.5f * (i + 1));
  return slopes;
}

void WriteTpCheckpoint(const std::string& dir, const TpModelDims& dims, const TpWeights& weights) {
  // Shapes: the safetensors reader checks shape × 4 == byte range, so each
  // tensor is declared with its true 2-D shape where it has one.
  const int h = dims.hidden(), f = dims.ffn();
  auto shape_of = [&](const std::string& name, size_t size) -> std::string {
    auto ends = [&](const char* suffix) {
      return name.size() >= std::strlen(suffix) &&
             name.compare(name.size() - std::strlen(suffix), std::string::npos, suffix) == 0;
    };
    if (name == "word_embeddings.weight") return std::to_string(dims.vocab) + "," + std::to_string(h);
    if (ends("query_key_value.weight")) return std::to_string(3 * h) + "," + std::to_string(h);
    if (ends("self_attention.dense.weight")) return std::to_string(h) + "," + std::to_string(h);
    if (ends("dense_h_to_4h.weight")) return std::to_string(f) + "," + std::to_string(h);
    if (ends("dense_4h_to_h.weight")) return std::to_string(h) + "," + std::to_string(f);
    return std::to_string(size);
  };
  std::string header = "{";
  size_t offset = 0;
  for (const auto& [name, values] : weights) {
    if (header.size() > 1) header += ",";
    header += "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[" + shape_of(name, values.size()) +
              "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + values.size() * 4) + "]}";
    offset += values.size() * 4;
  }
  header += "}";
  while (header.size() % 8 != 0) header += " ";
  std::ofstream out(dir + "/model.safetensors", std::ios::binary);
  const uint64_t n = header.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out.write(header.data(), header.size());
  for (const auto& [name, values] : weights) {
    out.write(reinterpret_cast<const char*>(values.data()), values.size() * 4);
  }
}

std::vector<uint8_t> BuildTpPlan(const TpModelDims& d, const std::string& checkpoint_dir, int rank, int tp,
                                 const TpPlanTweaks& tweaks, const TpPipelineStage& position) {
  const int layer_begin = position.layer_begin;
  const int layer_end = position.layer_end < 0 ? d.layers : position.layer_end;
  const bool first = position.stage == 0, last = position.stage == position.pp - 1;
  Builder b(d, tweaks.max_batch_tokens > 0 ? tweaks.max_batch_tokens : d.max_batch_tokens);
  auto& fbb = b.fbb();
  const bool parallel = tp > 1;
  const int h = d.hidden(), f = d.ffn();
  const int local_heads = d.heads / tp, local_h = h / tp, local_f = f / tp, local_v = d.vocab / tp;
  using K = plan::Kernel;
  auto all_reduce = [&](uint32_t x, const std::string& name) {
    if (!parallel) return x;
    const uint32_t y = b.Activation(name, h);
    b.Instruction(K::AllReduce, plan::CreateAllReduce(fbb).Union(), {x}, {y});
    return y;
  };
  auto layer_norm = [&](uint32_t x, const std::string& prefix, const std::string& name) {
    const uint32_t g = b.Weight(prefix + ".weight", {h});
    const uint32_t beta = b.Weight(prefix + ".bias", {h});
    const uint32_t y = b.Activation(name, h);
    b.Instruction(K::LayerNorm, plan::CreateLayerNorm(fbb, kEpsilon).Union(), {x, g, beta}, {y});
    return y;
  };
  // Column-parallel: this rank's rows of W [out, in] and of the bias.
  auto column = [&](const std::string& stored, int64_t out, int64_t in, int64_t local_out) {
    return parallel ? b.Weight(stored, {out, in}, 0, rank * local_out, (rank + 1) * local_out)
                    : b.Weight(stored, {out, in});
  };
  auto column_bias = [&](const std::string& stored, int64_t out, int64_t local_out) {
    return parallel ? b.Weight(stored, {out}, 0, rank * local_out, (rank + 1) * local_out)
                    : b.Weight(stored, {out});
  };
  // Row-parallel: this rank's columns of W [out, in].
  auto row = [&](const std::string& stored, int64_t out, int64_t in, int64_t local_in) {
    return parallel ? b.Weight(stored, {out, in}, 1, rank * local_in, (rank + 1) * local_in)
                    : b.Weight(stored, {out, in});
  };

  // A first stage reads token ids, a later one the hidden state.
  const uint32_t ids = first ? b.Input("token_ids", TensorRole::TokenIds, RowDim::Tokens) : 0;
  uint32_t hidden = first ? 0 : b.HiddenInput("hidden_in", h);
  const uint32_t positions = b.Input("positions", TensorRole::Positions, RowDim::Tokens);
  const uint32_t slots = b.Input("sequence_slots", TensorRole::SequenceSlots, RowDim::Tokens);
  const uint32_t logit_rows = last ? b.Input("logit_rows", TensorRole::LogitRows, RowDim::LogitRows) : 0;

  // The tied table: the first stage's embedding, the last one's LM head.
  uint32_t table = 0;
  if (first || last) {
    table = tweaks.slice_past_shape
                ? b.WeightWithShape("word_embeddings.weight", {local_v, h}, 0, rank * local_v,
                                    (rank + 1) * local_v + 1)
                : column("word_embeddings.weight", d.vocab, h, local_v);
  }
  if (first) {
    int64_t vocab_begin = parallel ? int64_t{rank} * local_v : 0;
    int64_t vocab_size = parallel ? d.vocab : 0;
    if (tweaks.embedding_vocab_size >= 0) {
      vocab_begin = 0;
      vocab_size = tweaks.embedding_vocab_size;
    }
    uint32_t x = b.Activation("embeddings.partial", h);
    b.Instruction(K::EmbeddingGather, plan::CreateEmbeddingGather(fbb, vocab_begin, vocab_size).Union(),
                  {ids, table}, {x});
    x = all_reduce(x, "embeddings");
    hidden = layer_norm(x, "word_embeddings_layernorm", "embeddings_norm");
  }

  const std::vector<float> all_slopes = TpSlopes(d);
  for (int l = layer_begin; l < layer_end; ++l) {
    auto name = [&](const char* what) { return LayerName(l, what); };
    const uint32_t a = layer_norm(hidden, name("input_layernorm"), name("attn_norm"));
    const uint32_t wqkv = column(name("self_attention.query_key_value.weight"), 3 * h, h, 3 * local_h);
    const uint32_t bqkv = column_bias(name("self_attention.query_key_value.bias"), 3 * h, 3 * local_h);
    const uint32_t qkv = b.Activation(name("qkv"), 3 * local_h);
    b.Instruction(K::Linear, plan::CreateLinear(fbb).Union(), {a, wqkv, bqkv}, {qkv});
    // Slopes of this rank's global heads [rank * local_heads, ...).
    const std::vector<float> slopes(all_slopes.begin() + rank * local_heads,
                                    all_slopes.begin() + (rank + 1) * local_heads);
    const uint32_t context = b.Activation(name("context"), local_h);
    b.Instruction(K::AlibiAttention,
                  plan::CreateAlibiAttentionDirect(fbb, l - layer_begin, local_heads, d.head_dim, &slopes).Union(),
                  {qkv, positions, slots}, {context});
    // Row-parallel dense; the bias is added once, on rank 0, before the sum.
    const uint32_t wd = row(name("self_attention.dense.weight"), h, h, local_h);
    std::vector<uint32_t> dense_operands = {context, wd};
    if (rank == 0) dense_operands.push_back(b.Weight(name("self_attention.dense.bias"), {h}));
    uint32_t attn = b.Activation(name("attn_out.partial"), h);
    b.Instruction(K::Linear, plan::CreateLinear(fbb).Union(), dense_operands, {attn});
    attn = all_reduce(attn, name("attn_out"));
    uint32_t residual = b.Activation(name("attn_residual"), h);
    b.Instruction(K::Add, plan::CreateAdd(fbb).Union(), {hidden, attn}, {residual});

    const uint32_t m = layer_norm(residual, name("post_attention_layernorm"), name("mlp_norm"));
    const uint32_t w1 = column(name("mlp.dense_h_to_4h.weight"), f, h, local_f);
    const uint32_t b1 = column_bias(name("mlp.dense_h_to_4h.bias"), f, local_f);
    const uint32_t up = b.Activation(name("mlp_gelu"), local_f);
    b.Instruction(K::Linear, plan::CreateLinear(fbb, plan::Epilogue::Gelu).Union(), {m, w1, b1}, {up});
    const uint32_t w2 = row(name("mlp.dense_4h_to_h.weight"), h, f, local_f);
    std::vector<uint32_t> down_operands = {up, w2};
    if (rank == 0) down_operands.push_back(b.Weight(name("mlp.dense_4h_to_h.bias"), {h}));
    uint32_t down = b.Activation(name("mlp_out.partial"), h);
    b.Instruction(K::Linear, plan::CreateLinear(fbb).Union(), down_operands, {down});
    down = all_reduce(down, name("mlp_out"));
    const bool hands_on = !last && l == layer_end - 1;
    const uint32_t next =
        b.Activation(name("output"), h, RowDim::Tokens, hands_on ? TensorRole::HiddenOut : TensorRole::None);
    b.Instruction(K::Add, plan::CreateAdd(fbb).Union(), {residual, down}, {next});
    hidden = next;
  }
  const std::string dir = tweaks.checkpoint_dir.empty() ? checkpoint_dir : tweaks.checkpoint_dir;
  const int plan_rank = tweaks.tp_rank >= 0 ? tweaks.tp_rank : rank;
  if (!last) {
    return b.Finish(d, dir, plan_rank, tp, local_heads, layer_end - layer_begin, position.stage,
                    position.pp);
  }
  const uint32_t final_norm = layer_norm(hidden, "ln_f", "final_norm");
  const uint32_t picked = b.Activation("logit_hidden", h, RowDim::LogitRows);
  b.Instruction(K::GatherRows, plan::CreateGatherRows(fbb).Union(), {final_norm, logit_rows}, {picked});
  // The tied LM head: this rank's vocabulary rows of the embedding table.
  if (parallel) {
    const uint32_t partial = b.Activation("logits.partial", local_v, RowDim::LogitRows);
    b.Instruction(K::Linear, plan::CreateLinear(fbb).Union(), {picked, table}, {partial});
    const uint32_t logits = b.Activation("logits", d.vocab + tweaks.logits_columns_delta, RowDim::LogitRows,
                                         TensorRole::Logits);
    b.Instruction(K::AllGather, plan::CreateAllGather(fbb).Union(), {partial}, {logits});
  } else {
    const uint32_t logits = b.Activation("logits", d.vocab, RowDim::LogitRows, TensorRole::Logits);
    b.Instruction(K::Linear, plan::CreateLinear(fbb).Union(), {picked, table}, {logits});
  }
  return b.Finish(d, dir, plan_rank, tp, local_heads, layer_end - layer_begin, position.stage,
                  position.pp);
}

void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

void WriteTpPlanDir(const std::string& plan_dir, const TpModelDims& dims, const std::string& checkpoint_dir,
                    int tp) {
  for (int r = 0; r < tp; ++r) {
    const std::string file = tp == 1 ? plan::kPlanFileName : plan::RankPlanFileName(r);
    WriteBytes(plan_dir + "/" + file, BuildTpPlan(dims, checkpoint_dir, r, tp));
  }
}

TpModelDims PipelineTestDims() {
  TpModelDims dims;
  dims.layers = 3;
  return dims;
}

void WritePipelineTestDirs(const std::string& dir, const TpWeights& weights) {
  const TpModelDims dims = PipelineTestDims();
  WriteTpCheckpoint(dir, dims, weights);
  for (const char* name : {"whole", "pp2", "pp2tp2"}) mkdir((dir + "/" + name).c_str(), 0755);
  WriteTpPlanDir(dir + "/whole", dims, dir, 1);
  WriteTpPipelineDir(dir + "/pp2", dims, dir, 1, {1});
  WriteTpPipelineDir(dir + "/pp2tp2", dims, dir, 2, {2});
}

PipelineTestFiles::PipelineTestFiles(const std::string& name, uint32_t seed)
    : weights(MakeTpWeights(PipelineTestDims(), seed)) {
  std::string pattern = "/tmp/bloom-" + name + "-XXXXXX";
  dir = mkdtemp(pattern.data());
  WritePipelineTestDirs(dir, weights);
}

PipelineTestFiles::~PipelineTestFiles() { std::system(("rm -rf " + dir).c_str()); }

std::string PipelineTestFiles::MakeDir(const std::string& sub) const {
  const std::string path = dir + "/" + sub;
  mkdir(path.c_str(), 0755);
  return path;
}

void WriteTpPipelineDir(const std::string& plan_dir, const TpModelDims& dims,
                        const std::string& checkpoint_dir, int tp, const std::vector<int>& cuts,
                        const TpPlanTweaks& tweaks, int tweaked_stage, int tweaked_rank) {
  const int pp = static_cast<int>(cuts.size()) + 1;
  for (int s = 0; s < pp; ++s) {
    const TpPipelineStage position{s, pp, s == 0 ? 0 : cuts[s - 1], s == pp - 1 ? dims.layers : cuts[s]};
    for (int r = 0; r < tp; ++r) {
      const TpPlanTweaks none;
      const TpPlanTweaks& mine = s == tweaked_stage && r == tweaked_rank ? tweaks : none;
      WriteBytes(plan_dir + "/" + plan::StagePlanFileName(s, r),
                 BuildTpPlan(dims, checkpoint_dir, r, tp, mine, position));
    }
  }
}

std::vector<std::vector<double>> ReferenceLogits(const TpModelDims& d, const TpWeights& w,
                                                 const std::vector<int32_t>& tokens) {
  const int n = static_cast<int>(tokens.size()), h = d.hidden(), f = d.ffn();
  using Matrix = std::vector<std::vector<double>>;
  auto W = [&](const std::string& name) -> const std::vector<float>& { return w.at(name); };
  auto layer_norm = [&](const Matrix& x, const std::string& prefix) {
    Matrix y = x;
    for (auto& r : y) {
      double mean = 0, var = 0;
      for (double v : r) mean += v;
      mean /= h;
      for (double v : r) var += (v - mean) * (v - mean);
      var /= h;
      for (int i = 0; i < h; ++i) {
        r[i] = (r[i] - mean) / std::sqrt(var + kEpsilon) * W(prefix + ".weight")[i] + W(prefix + ".bias")[i];
      }
    }
    return y;
  };
  auto linear = [&](const Matrix& x, const std::string& weight, const std::string& bias, int out) {
    const auto& wt = W(weight);
    const int in = static_cast<int>(x[0].size());
    Matrix y(x.size(), std::vector<double>(out, 0.0));
    for (size_t t = 0; t < x.size(); ++t) {
      for (int o = 0; o < out; ++o) {
        double s = bias.empty() ? 0.0 : W(bias)[o];
        for (int i = 0; i < in; ++i) s += x[t][i] * wt[size_t{1} * o * in + i];
        y[t][o] = s;
      }
    }
    return y;
  };
  Matrix x(n, std::vector<double>(h));
  for (int t = 0; t < n; ++t) {
    for (int i = 0; i < h; ++i) x[t][i] = W("word_embeddings.weight")[size_t{1} * tokens[t] * h + i];
  }
  x = layer_norm(x, "word_embeddings_layernorm");
  const std::vector<float> slopes = TpSlopes(d);
  for (int l = 0; l < d.layers; ++l) {
    auto name = [&](const char* what) { return LayerName(l, what); };
    const Matrix qkv = linear(layer_norm(x, name("input_layernorm")),
                              name("self_attention.query_key_value.weight"),
                              name("self_attention.query_key_value.bias"), 3 * h);
    Matrix context(n, std::vector<double>(h, 0.0));
    for (int head = 0; head < d.heads; ++head) {
      const int q0 = head * 3 * d.head_dim, k0 = q0 + d.head_dim, v0 = q0 + 2 * d.head_dim;
      for (int i = 0; i < n; ++i) {
        std::vector<double> score(i + 1);
        double top = -1e300;
        for (int j = 0; j <= i; ++j) {
          double s = 0;
          for (int e = 0; e < d.head_dim; ++e) s += qkv[i][q0 + e] * qkv[j][k0 + e];
          // ALiBi as transformers writes it: -slope * distance.
          score[j] = s / std::sqrt(double(d.head_dim)) - slopes[head] * double(i - j);
          top = std::max(top, score[j]);
        }
        double total = 0;
        for (double& s : score) total += (s = std::exp(s - top));
        for (int j = 0; j <= i; ++j) {
          for (int e = 0; e < d.head_dim; ++e) {
            context[i][head * d.head_dim + e] += score[j] / total * qkv[j][v0 + e];
          }
        }
      }
    }
    const Matrix attn = linear(context, name("self_attention.dense.weight"), name("self_attention.dense.bias"), h);
    for (int t = 0; t < n; ++t) {
      for (int i = 0; i < h; ++i) x[t][i] += attn[t][i];
    }
    Matrix up = linear(layer_norm(x, name("post_attention_layernorm")), name("mlp.dense_h_to_4h.weight"),
                       name("mlp.dense_h_to_4h.bias"), f);
    for (auto& r : up) {
      for (double& v : r) v = 0.5 * v * (1.0 + std::tanh(0.79788456 * v * (1.0 + 0.044715 * v * v)));
    }
    const Matrix down = linear(up, name("mlp.dense_4h_to_h.weight"), name("mlp.dense_4h_to_h.bias"), h);
    for (int t = 0; t < n; ++t) {
      for (int i = 0; i < h; ++i) x[t][i] += down[t][i];
    }
  }
  return linear(layer_norm(x, "ln_f"), "word_embeddings.weight", "", d.vocab);
}

}  // namespace bloom::testing

namespace bloom::testing {

absl::StatusOr<std::vector<std::vector<float>>> RunTpScenario(StepExecutor& executor) {
  KvCache& kv = executor.kv_cache();
  absl::StatusOr<int32_t> a = kv.AddSequence();
  absl::StatusOr<int32_t> b = kv.AddSequence();
  if (!a.ok()) return a.status();
  if (!b.ok()) return b.status();
  std::vector<std::vector<float>> rows;
  auto step = [&](const std::vector<int32_t>& ids, const std::vector<int32_t>& positions,
                  const std::vector<int32_t>& slots, const std::vector<int32_t>& logit_rows) -> absl::Status {
    StepBatch batch{ids, positions, slots, logit_rows};
    if (auto s = executor.Step(batch); !s.ok()) return s;
    const int64_t vocab = executor.vocab_size();
    absl::Span<const float> logits = executor.logits();
    for (size_t r = 0; r < logit_rows.size(); ++r) {
      rows.emplace_back(logits.begin() + r * vocab, logits.begin() + (r + 1) * vocab);
    }
    return absl::OkStatus();
  };
  if (auto s = kv.Reserve(*a, 5); !s.ok()) return s;
  if (auto s = kv.Reserve(*b, 3); !s.ok()) return s;
  const std::vector<int32_t>& A = kScenarioA;
  const std::vector<int32_t>& B = kScenarioB;
  if (auto s = step({A[0], A[1], A[2], A[3], A[4], B[0], B[1], B[2]}, {0, 1, 2, 3, 4, 0, 1, 2},
                    {*a, *a, *a, *a, *a, *b, *b, *b}, {0, 1, 2, 3, 4, 5, 6, 7});
      !s.ok()) {
    return s;
  }
  if (auto s = kv.Reserve(*a, 6); !s.ok()) return s;
  if (auto s = kv.Reserve(*b, 4); !s.ok()) return s;
  if (auto s = step({A[5], B[3]}, {5, 3}, {*a, *b}, {0, 1}); !s.ok()) return s;
  return rows;
}

std::vector<std::vector<double>> ReferenceScenario(const TpModelDims& dims, const TpWeights& weights) {
  const auto ra = ReferenceLogits(dims, weights, kScenarioA);
  const auto rb = ReferenceLogits(dims, weights, kScenarioB);
  return {ra[0], ra[1], ra[2], ra[3], ra[4], rb[0], rb[1], rb[2], ra[5], rb[3]};
}

}  // namespace bloom::testing
