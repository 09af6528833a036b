// Generated safetensors files (runtime/checkpoint/generated_weights.h):
// values made from the header's seed and distributions, checked against
// the generator's definition worked through here (SplitMix64 states, the
// Irwin-Hall sum, rounding through the stored dtype), slices against the
// whole tensor, and every malformed description refused in one line that
// names the file and the metadata key.
#include "runtime/checkpoint/generated_weights.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/checkpoint/safetensors.h"
#include "test/unit/checkpoint/safetensors_bytes.h"

namespace bloom {
namespace {

using ::testing::HasSubstr;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// One 2-D tensor "w" [rows, cols] and a 1-D "b" [cols], generated from `seed`.
std::string GeneratedFile(const std::string& dtype, int64_t rows, int64_t cols, uint64_t seed,
                          std::map<std::string, std::string> extra = {}) {
  const size_t element = dtype == "F32" ? 4 : 2;
  std::map<std::string, std::string> metadata =
      GeneratedWeightsMetadata(seed, {{"w", {0.0f, 0.5f}}, {"b", {1.0f, 0.25f}}});
  for (auto& [key, value] : extra) {
    if (value.empty())
      metadata.erase(key);
    else
      metadata[key] = value;
  }
  return testing::BuildSafetensors(
      {{"w", dtype, {rows, cols}, std::string(rows * cols * element, '\0')},
       {"b", dtype, {cols}, std::string(cols * element, '\0')}},
      metadata);
}

absl::StatusOr<SafetensorsFile> Open(const std::string& bytes) {
  const std::string path = testing::MakeTempDir() + "/model.safetensors";
  EXPECT_TRUE(testing::WriteFile(path, bytes));
  return SafetensorsFile::Open(path);
}

std::vector<float> ReadAll(const SafetensorsFile& file, const std::string& name) {
  const SafetensorsTensor* tensor = file.Find(name);
  std::vector<float> values(tensor->NumElements());
  EXPECT_TRUE(file.ReadSliceAsFloat32(*tensor, -1, 0, 0, absl::MakeSpan(values), name).ok());
  return values;
}

// The generator worked through by hand for element `index` of the tensor
// named `name`: SplitMix64's state after index + 1 steps from the stream
// key, its output's four 16-bit fields as uniforms at their bucket centres.
float Expected(uint64_t seed, const std::string& name, uint64_t index, float mean, float stddev) {
  const uint64_t golden = 0x9E3779B97F4A7C15ull;
  auto mix = [](uint64_t x) {
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  };
  uint64_t fnv = 0xCBF29CE484222325ull;
  for (unsigned char c : name) fnv = (fnv ^ c) * 0x100000001B3ull;
  const uint64_t key = mix(fnv ^ mix(seed + golden));
  const uint64_t bits = mix(key + (index + 1) * golden);
  float sum = 0.0f;
  for (int field = 0; field < 4; ++field) {
    sum += (static_cast<float>((bits >> (16 * field)) & 0xFFFFu) + 0.5f) / 65536.0f;
  }
  return mean + stddev * ((sum - 2.0f) * std::sqrt(3.0f));
}

TEST(GeneratedWeightsTest, ValuesAreTheGeneratorsRoundedThroughTheStoredDtype) {
  for (const std::string dtype : {"F32", "F16", "BF16"}) {
    auto file = Open(GeneratedFile(dtype, 3, 5, /*seed=*/7));
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_TRUE(file->generated());
    const std::vector<float> w = ReadAll(*file, "w");
    const std::vector<float> b = ReadAll(*file, "b");
    for (uint64_t i = 0; i < w.size(); ++i) {
      float expected = Expected(7, "w", i, 0.0f, 0.5f);
      RoundThroughDType(*ParseDTypeName(dtype), &expected, 1);
      ASSERT_EQ(w[i], expected) << dtype << " w[" << i << "]";
    }
    for (uint64_t i = 0; i < b.size(); ++i) {
      float expected = Expected(7, "b", i, 1.0f, 0.25f);
      RoundThroughDType(*ParseDTypeName(dtype), &expected, 1);
      ASSERT_EQ(b[i], expected) << dtype << " b[" << i << "]";
    }
  }
}

TEST(GeneratedWeightsTest, SlicesAreTheWholeTensorsParts) {
  auto file = Open(GeneratedFile("BF16", 6, 8, /*seed=*/1));
  ASSERT_TRUE(file.ok()) << file.status();
  const std::vector<float> whole = ReadAll(*file, "w");
  const SafetensorsTensor& w = *file->Find("w");
  std::vector<float> rows(2 * 8), columns(6 * 3);
  ASSERT_TRUE(file->ReadSliceAsFloat32(w, 0, 3, 5, absl::MakeSpan(rows), "w").ok());
  ASSERT_TRUE(file->ReadSliceAsFloat32(w, 1, 4, 7, absl::MakeSpan(columns), "w").ok());
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 8; ++c) EXPECT_EQ(rows[r * 8 + c], whole[(3 + r) * 8 + c]);
  }
  for (int r = 0; r < 6; ++r) {
    for (int c = 0; c < 3; ++c) EXPECT_EQ(columns[r * 3 + c], whole[r * 8 + 4 + c]);
  }
  // A slice outside the tensor, or a destination of the wrong size.
  EXPECT_THAT(Message(file->ReadSliceAsFloat32(w, 1, 6, 9, absl::MakeSpan(columns), "w")),
              HasSubstr("outside the stored tensor"));
  EXPECT_THAT(Message(file->ReadSliceAsFloat32(w, 0, 3, 4, absl::MakeSpan(rows), "w")),
              HasSubstr("does not fit"));
}

TEST(GeneratedWeightsTest, LargeTensorsGiveTheSameValuesOnSeveralThreads) {
  // 4 Mi + elements: generated on more than one thread where there are
  // several; each element is checked against the hand-worked generator at
  // a stride.
  const int64_t rows = 1025, cols = 4096;
  auto file = Open(GeneratedFile("F32", rows, cols, /*seed=*/3));
  ASSERT_TRUE(file.ok()) << file.status();
  const std::vector<float> w = ReadAll(*file, "w");
  for (uint64_t i = 0; i < w.size(); i += 4099) {
    ASSERT_EQ(w[i], Expected(3, "w", i, 0.0f, 0.5f)) << i;
  }
  ASSERT_EQ(w.back(), Expected(3, "w", w.size() - 1, 0.0f, 0.5f));
}

TEST(GeneratedWeightsTest, FilesWithoutAGeneratorAreStored) {
  auto file = Open(testing::BuildSafetensors({{"w", "F32", {2}, testing::F32Bytes({1.5f, -2})}},
                                             {{"format", "pt"}}));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_FALSE(file->generated());
  EXPECT_EQ(ReadAll(*file, "w"), (std::vector<float>{1.5f, -2.0f}));
}

TEST(GeneratedWeightsTest, MalformedDescriptionsAreRefusedNamingTheKey) {
  struct Case {
    std::map<std::string, std::string> change;  // "" removes the key
    std::string message;
  };
  const std::vector<Case> cases = {
      {{{"bloom.generator", "mersenne"}}, "'bloom.generator' names the unknown generator"},
      {{{"bloom.seed", ""}}, "'bloom.seed' must be an unsigned decimal seed"},
      {{{"bloom.seed", "-1"}}, "'bloom.seed' must be an unsigned decimal seed"},
      {{{"bloom.seed", "18446744073709551616"}}, "'bloom.seed' must be an unsigned"},
      {{{"bloom.values.w", ""}}, "'bloom.values.w' is missing"},
      {{{"bloom.values.w", "0.0"}}, "'bloom.values.w' must be '<mean> <stddev>'"},
      {{{"bloom.values.w", "0 x"}}, "'bloom.values.w' must be '<mean> <stddev>'"},
      {{{"bloom.values.w", "0 -1"}}, "'bloom.values.w' needs a finite mean"},
      {{{"bloom.values.w", "nan 1"}}, "'bloom.values.w' needs a finite mean"},
      {{{"bloom.values.w", "0 inf"}}, "'bloom.values.w' needs a finite mean"},
      {{{"bloom.values.x", "0 1"}}, "'bloom.values.x' names no tensor of the file"},
      {{{"bloom.generator", ""}}, "needs 'bloom.generator'"},
  };
  for (const Case& c : cases) {
    auto file = Open(GeneratedFile("F32", 2, 2, 0, c.change));
    ASSERT_FALSE(file.ok()) << c.message;
    EXPECT_THAT(Message(file.status()), HasSubstr("model.safetensors: '__metadata__' entry"));
    EXPECT_THAT(Message(file.status()), HasSubstr(c.message));
  }
}

TEST(GeneratedWeightsTest, MetadataRoundTripsEveryFloat) {
  const std::vector<float> values = {0.02f, 1.0f / 3.0f, 1e-38f, 3.4e38f, 0.0f, 1.0f};
  for (float v : values) {
    auto metadata = GeneratedWeightsMetadata(0, {{"w", {v, v}}});
    auto parsed = ParseGeneratedWeights(metadata, {"w"}, "here");
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ((*parsed)->tensors.at("w").distribution.mean, v);
    EXPECT_EQ((*parsed)->tensors.at("w").distribution.stddev, v);
  }
}

}  // namespace
}  // namespace bloom
