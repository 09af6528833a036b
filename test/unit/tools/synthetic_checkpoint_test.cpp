// make-synthetic-checkpoint's writer, read back through the runtime's own
// checkpoint reader (Checkpoint::Open): tensor names, shapes and dtypes as
// save_pretrained writes a BLOOM model (spelled out here by hand), value
// statistics computed here from the read-back floats, byte-identical output
// for any thread count and shard size, and the sparse layout-only mode.
#include "tools/make-synthetic-checkpoint/synthetic_checkpoint.h"

#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/bloom/config.h"
#include "models/bloom/tensor_names.h"
#include "nlohmann/json.hpp"
#include "runtime/checkpoint/checkpoint.h"
#include "test/unit/checkpoint/safetensors_bytes.h"

namespace bloom::tools {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr int64_t kVocab = 300;
constexpr int64_t kHidden = 48;
constexpr int64_t kLayers = 2;

// A config in the bigscience spelling (n_embed, n_head, n_layer).
std::string TinyConfig(const std::string& extra = "") {
  std::ostringstream text;
  text << "{\"model_type\": \"bloom\", \"vocab_size\": " << kVocab << ", \"n_embed\": " << kHidden
       << ", \"n_head\": 4, \"n_layer\": " << kLayers << ", \"layer_norm_epsilon\": 1e-5"
       << extra << "}";
  return text.str();
}

std::string WriteConfig(const std::string& text) {
  const std::string path = bloom::testing::MakeTempDir() + "/config.json";
  EXPECT_TRUE(bloom::testing::WriteFile(path, text));
  return path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// What save_pretrained stores for the tiny model, hand-derived: name -> shape.
std::map<std::string, std::vector<int64_t>> ExpectedTensors() {
  const int64_t h = kHidden;
  std::map<std::string, std::vector<int64_t>> expected = {
      {"transformer.word_embeddings.weight", {kVocab, h}},
      {"transformer.word_embeddings_layernorm.weight", {h}},
      {"transformer.word_embeddings_layernorm.bias", {h}},
      {"transformer.ln_f.weight", {h}},
      {"transformer.ln_f.bias", {h}},
  };
  for (int layer = 0; layer < kLayers; ++layer) {
    const std::string p = "transformer.h." + std::to_string(layer) + ".";
    expected[p + "input_layernorm.weight"] = {h};
    expected[p + "input_layernorm.bias"] = {h};
    expected[p + "self_attention.query_key_value.weight"] = {3 * h, h};
    expected[p + "self_attention.query_key_value.bias"] = {3 * h};
    expected[p + "self_attention.dense.weight"] = {h, h};
    expected[p + "self_attention.dense.bias"] = {h};
    expected[p + "post_attention_layernorm.weight"] = {h};
    expected[p + "post_attention_layernorm.bias"] = {h};
    expected[p + "mlp.dense_h_to_4h.weight"] = {4 * h, h};
    expected[p + "mlp.dense_h_to_4h.bias"] = {4 * h};
    expected[p + "mlp.dense_4h_to_h.weight"] = {h, 4 * h};
    expected[p + "mlp.dense_4h_to_h.bias"] = {h};
  }
  return expected;
}

std::vector<std::string> Keys(const std::map<std::string, std::vector<int64_t>>& map) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : map) keys.push_back(key);
  return keys;
}

std::vector<float> ReadFloats(const Checkpoint& checkpoint, const std::string& name) {
  auto ref = checkpoint.Find(name);
  EXPECT_TRUE(ref.ok()) << ref.status();
  if (!ref.ok()) return {};
  std::vector<float> values(static_cast<size_t>(ref->tensor->NumElements()));
  absl::Status status = checkpoint.ReadAsFloat32(name, absl::MakeSpan(values));
  EXPECT_TRUE(status.ok()) << status;
  return values;
}

struct Moments {
  double mean = 0, stddev = 0, within_one_sigma = 0;
};

Moments ComputeMoments(const std::vector<float>& values) {
  Moments m;
  for (float v : values) m.mean += v;
  m.mean /= values.size();
  for (float v : values) m.stddev += (v - m.mean) * (v - m.mean);
  m.stddev = std::sqrt(m.stddev / values.size());
  for (float v : values) m.within_one_sigma += std::abs(v - m.mean) < m.stddev ? 1 : 0;
  m.within_one_sigma /= values.size();
  return m;
}

TEST(SyntheticCheckpointTest, WritesSavePretrainedNamesShapesAndDtype) {
  const std::string config = WriteConfig(TinyConfig());
  const std::string dir = bloom::testing::MakeTempDir() + "/ckpt";
  SyntheticCheckpointOptions options;
  options.dtype = DType::kBF16;
  auto summary = WriteSyntheticCheckpoint(config, dir, options);
  ASSERT_TRUE(summary.ok()) << summary.status();

  auto checkpoint = Checkpoint::Open(dir);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  const auto expected = ExpectedTensors();
  EXPECT_THAT(checkpoint->TensorNames(), ElementsAreArray(Keys(expected)));
  int64_t parameters = 0;
  for (const auto& [name, shape] : expected) {
    auto ref = checkpoint->Find(name);
    ASSERT_TRUE(ref.ok()) << ref.status();
    EXPECT_EQ(ref->tensor->shape, shape) << name;
    EXPECT_EQ(ref->tensor->dtype, DType::kBF16) << name;
    int64_t count = 1;
    for (int64_t d : shape) count *= d;
    parameters += count;
  }
  EXPECT_EQ(summary->parameters, parameters);
  EXPECT_EQ(summary->data_bytes, static_cast<uint64_t>(2 * parameters));
  EXPECT_EQ(summary->files, 1);
  // The head is tied: the model's name resolver finds the embeddings.
  auto head = model::ResolveTensorName(*checkpoint, model::kLmHead);
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(*head, "transformer.word_embeddings.weight");

  // config.json is written back with the stored dtype and the same shapes.
  auto written = model::LoadBloomConfig(dir + "/config.json");
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->vocab_size, kVocab);
  EXPECT_EQ(written->hidden_size, kHidden);
  EXPECT_EQ(written->num_layers, kLayers);
  auto json = nlohmann::json::parse(ReadFile(dir + "/config.json"));
  EXPECT_EQ(json["dtype"], "bfloat16");
  EXPECT_EQ(json["n_head"], 4);  // input keys are kept as they were spelled
}

TEST(SyntheticCheckpointTest, ValuesHaveTheIntendedScales) {
  const std::string config = WriteConfig(TinyConfig());
  const std::string dir = bloom::testing::MakeTempDir() + "/ckpt";
  SyntheticCheckpointOptions options;
  options.dtype = DType::kF32;  // no rounding in the statistics
  options.seed = 7;
  ASSERT_TRUE(WriteSyntheticCheckpoint(config, dir, options).ok());
  auto checkpoint = Checkpoint::Open(dir);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();

  struct Case {
    std::string name;
    double mean, stddev;
  };
  const std::vector<Case> cases = {
      {"transformer.word_embeddings.weight", 0.0, 0.02},
      {"transformer.h.1.mlp.dense_4h_to_h.weight", 0.0, 0.02},
      {"transformer.h.0.self_attention.query_key_value.bias", 0.0, 0.01},
      {"transformer.h.0.input_layernorm.weight", 1.0, 0.02},
      {"transformer.ln_f.bias", 0.0, 0.01},
  };
  for (const Case& c : cases) {
    const std::vector<float> values = ReadFloats(*checkpoint, c.name);
    ASSERT_FALSE(values.empty()) << c.name;
    for (float v : values) ASSERT_TRUE(std::isfinite(v)) << c.name;
    const Moments m = ComputeMoments(values);
    const double n = static_cast<double>(values.size());
    // Mean within 5 standard errors; stddev within 5 of its standard errors
    // (about sigma / sqrt(2n)) plus 2% for the approximation.
    EXPECT_NEAR(m.mean, c.mean, 5 * c.stddev / std::sqrt(n)) << c.name;
    EXPECT_NEAR(m.stddev, c.stddev, c.stddev * (0.02 + 5 / std::sqrt(2 * n))) << c.name;
    // Normal-ish: about 68% of a normal's mass lies within one sigma (a
    // uniform's would be 58%).
    if (n > 10000) {
      EXPECT_GT(m.within_one_sigma, 0.64) << c.name;
      EXPECT_LT(m.within_one_sigma, 0.72) << c.name;
    }
    // Bounded tails: no value beyond 2·sqrt(3) sigma.
    for (float v : values) ASSERT_LE(std::abs(v - c.mean), 3.5 * c.stddev) << c.name;
  }
  // Tensors of the same shape and scale draw different values.
  EXPECT_NE(ReadFloats(*checkpoint, "transformer.h.0.mlp.dense_4h_to_h.weight"),
            ReadFloats(*checkpoint, "transformer.h.1.mlp.dense_4h_to_h.weight"));
}

TEST(SyntheticCheckpointTest, BytesDependOnSeedOnlyNotThreadsOrShards) {
  const std::string config = WriteConfig(TinyConfig());
  const std::string root = bloom::testing::MakeTempDir();
  SyntheticCheckpointOptions one_thread;
  one_thread.threads = 1;
  one_thread.seed = 3;
  SyntheticCheckpointOptions many_threads = one_thread;
  many_threads.threads = 7;
  SyntheticCheckpointOptions other_seed = one_thread;
  other_seed.seed = 4;
  SyntheticCheckpointOptions sharded = many_threads;
  sharded.max_shard_bytes = 40000;  // several shards for ~170 KB of bf16

  ASSERT_TRUE(WriteSyntheticCheckpoint(config, root + "/a", one_thread).ok());
  ASSERT_TRUE(WriteSyntheticCheckpoint(config, root + "/b", many_threads).ok());
  ASSERT_TRUE(WriteSyntheticCheckpoint(config, root + "/c", other_seed).ok());
  auto sharded_summary = WriteSyntheticCheckpoint(config, root + "/d", sharded);
  ASSERT_TRUE(sharded_summary.ok()) << sharded_summary.status();

  EXPECT_EQ(ReadFile(root + "/a/model.safetensors"), ReadFile(root + "/b/model.safetensors"));
  EXPECT_NE(ReadFile(root + "/a/model.safetensors"), ReadFile(root + "/c/model.safetensors"));

  // The sharded checkpoint has an index naming save_pretrained's shard
  // files, and holds the same tensors with the same bytes.
  EXPECT_GT(sharded_summary->files, 2);
  auto index = nlohmann::json::parse(ReadFile(root + "/d/model.safetensors.index.json"));
  EXPECT_EQ(index["metadata"]["total_size"], sharded_summary->data_bytes);
  const std::string last = "-of-0000" + std::to_string(sharded_summary->files) + ".safetensors";
  EXPECT_THAT(index["weight_map"]["transformer.ln_f.bias"].get<std::string>(), HasSubstr(last));
  auto single = Checkpoint::Open(root + "/a");
  auto shards = Checkpoint::Open(root + "/d");
  ASSERT_TRUE(single.ok()) << single.status();
  ASSERT_TRUE(shards.ok()) << shards.status();
  ASSERT_EQ(single->TensorNames(), shards->TensorNames());
  for (const std::string& name : single->TensorNames()) {
    auto a = single->Find(name);
    auto d = shards->Find(name);
    ASSERT_TRUE(a.ok() && d.ok()) << name;
    EXPECT_TRUE(std::equal(a->data.begin(), a->data.end(), d->data.begin(), d->data.end()))
        << name;
  }
  EXPECT_NE(shards->Find("transformer.word_embeddings.weight")->file,
            shards->Find("transformer.ln_f.bias")->file);
}

TEST(SyntheticCheckpointTest, LayoutOnlyMatchesTheFullLayoutAsASparseFile) {
  // Larger than the tiny model so that holes are measurable in blocks.
  const std::string config = WriteConfig(
      "{\"model_type\": \"bloom\", \"vocab_size\": 4096, \"hidden_size\": 256, "
      "\"num_attention_heads\": 8, \"num_hidden_layers\": 2}");
  const std::string root = bloom::testing::MakeTempDir();
  SyntheticCheckpointOptions full;
  SyntheticCheckpointOptions layout = full;
  layout.layout_only = true;
  ASSERT_TRUE(WriteSyntheticCheckpoint(config, root + "/full", full).ok());
  ASSERT_TRUE(WriteSyntheticCheckpoint(config, root + "/layout", layout).ok());

  struct stat full_stat, layout_stat;
  ASSERT_EQ(::stat((root + "/full/model.safetensors").c_str(), &full_stat), 0);
  ASSERT_EQ(::stat((root + "/layout/model.safetensors").c_str(), &layout_stat), 0);
  // Allocated blocks: the header's page(s), not the ~4 MB of data.
  EXPECT_LT(static_cast<int64_t>(layout_stat.st_blocks) * 512, full_stat.st_size / 8);

  auto a = Checkpoint::Open(root + "/full");
  auto b = Checkpoint::Open(root + "/layout");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  // The data sections are the same size (the layout's header is longer by
  // the generator's metadata).
  const SafetensorsFile* fa = a->Find(a->TensorNames().front())->opened;
  const SafetensorsFile* fb = b->Find(b->TensorNames().front())->opened;
  EXPECT_EQ(full_stat.st_size - static_cast<off_t>(fa->header().data_offset),
            layout_stat.st_size - static_cast<off_t>(fb->header().data_offset));
  const std::vector<std::string> names = a->TensorNames();
  ASSERT_EQ(names, b->TensorNames());
  for (const std::string& name : names) {
    auto ta = a->Find(name);
    auto tb = b->Find(name);
    EXPECT_EQ(ta->tensor->shape, tb->tensor->shape) << name;
    EXPECT_EQ(ta->tensor->dtype, tb->tensor->dtype) << name;
    EXPECT_EQ(ta->tensor->begin, tb->tensor->begin) << name;
    for (uint8_t byte : tb->data) ASSERT_EQ(byte, 0) << name;
  }
  // The layout-only header says its values are generated; the full one
  // stores them.
  EXPECT_TRUE(b->Find(names.front())->opened->generated());
  EXPECT_FALSE(a->Find(names.front())->opened->generated());
  EXPECT_EQ(b->Find(names.front())->opened->header().metadata.at("bloom.seed"), "0");
}

// A layout-only checkpoint reads, through the runtime's readers, as the
// full write of the same options: every tensor's values bit for bit, in
// every stored dtype, single-file and sharded, whole and sliced.
TEST(SyntheticCheckpointTest, LayoutOnlyReadsAsTheFullWrite) {
  const std::string config = WriteConfig(TinyConfig());
  const std::string root = bloom::testing::MakeTempDir();
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (int64_t shard_bytes : {int64_t{0}, int64_t{40000}}) {
      SyntheticCheckpointOptions full;
      full.dtype = dtype;
      full.seed = 11;
      full.max_shard_bytes = shard_bytes;
      SyntheticCheckpointOptions layout = full;
      layout.layout_only = true;
      const std::string tag = std::string(DTypeName(dtype)) + std::to_string(shard_bytes);
      ASSERT_TRUE(WriteSyntheticCheckpoint(config, root + "/full" + tag, full).ok());
      ASSERT_TRUE(WriteSyntheticCheckpoint(config, root + "/layout" + tag, layout).ok());
      auto a = Checkpoint::Open(root + "/full" + tag);
      auto b = Checkpoint::Open(root + "/layout" + tag);
      ASSERT_TRUE(a.ok()) << a.status();
      ASSERT_TRUE(b.ok()) << b.status();
      for (const std::string& name : a->TensorNames()) {
        const std::vector<float> stored = ReadFloats(*a, name);
        const std::vector<float> generated = ReadFloats(*b, name);
        ASSERT_EQ(stored.size(), generated.size());
        ASSERT_EQ(std::memcmp(stored.data(), generated.data(), stored.size() * sizeof(float)), 0)
            << tag << " " << name;
      }
      // A column slice, as a tensor-parallel rank reads it.
      const std::string qkv = "transformer.h.1.self_attention.query_key_value.weight";
      auto fa = a->Find(qkv);
      auto fb = b->Find(qkv);
      std::vector<float> sa(3 * kHidden * 16), sb(sa.size());
      ASSERT_TRUE(
          fa->opened->ReadSliceAsFloat32(*fa->tensor, 1, 16, 32, absl::MakeSpan(sa), qkv).ok());
      ASSERT_TRUE(
          fb->opened->ReadSliceAsFloat32(*fb->tensor, 1, 16, 32, absl::MakeSpan(sb), qkv).ok());
      EXPECT_EQ(sa, sb) << tag;
    }
  }
}

TEST(SyntheticCheckpointTest, UntiedConfigStoresLmHeadAndF16IsNamedInConfig) {
  const std::string config = WriteConfig(TinyConfig(", \"tie_word_embeddings\": false"));
  const std::string dir = bloom::testing::MakeTempDir() + "/ckpt";
  SyntheticCheckpointOptions options;
  options.dtype = DType::kF16;
  ASSERT_TRUE(WriteSyntheticCheckpoint(config, dir, options).ok());
  auto checkpoint = Checkpoint::Open(dir);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto head = checkpoint->Find("lm_head.weight");
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->tensor->shape, (std::vector<int64_t>{kVocab, kHidden}));
  EXPECT_EQ(head->tensor->dtype, DType::kF16);
  EXPECT_NE(ReadFloats(*checkpoint, "lm_head.weight"),
            ReadFloats(*checkpoint, "transformer.word_embeddings.weight"));
  EXPECT_EQ(nlohmann::json::parse(ReadFile(dir + "/config.json"))["dtype"], "float16");
}

TEST(SyntheticCheckpointTest, ErrorsNameTheFile) {
  const std::string dir = bloom::testing::MakeTempDir() + "/ckpt";
  auto missing = WriteSyntheticCheckpoint("/nonexistent/config.json", dir, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent/config.json"));

  const std::string no_heads = WriteConfig("{\"vocab_size\": 10, \"hidden_size\": 8, \"n_layer\": 1}");
  auto bad = WriteSyntheticCheckpoint(no_heads, dir, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr(no_heads));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("n_head"));

  SyntheticCheckpointOptions int_dtype;
  int_dtype.dtype = DType::kI32;
  EXPECT_FALSE(WriteSyntheticCheckpoint(WriteConfig(TinyConfig()), dir, int_dtype).ok());
}

}  // namespace
}  // namespace bloom::tools
