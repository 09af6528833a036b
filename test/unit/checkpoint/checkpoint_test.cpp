// Checkpoint directories: single file, sharded with an index, and every way
// the index can be wrong.
#include "runtime/checkpoint/checkpoint.h"

#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/unit/checkpoint/safetensors_bytes.h"

namespace bloom {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::F32Bytes;
using testing::U16Bytes;

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    ASSERT_FALSE(dir_.empty());
  }
  void Write(const std::string& name, const std::string& bytes) {
    ASSERT_TRUE(testing::WriteFile(dir_ + "/" + name, bytes));
  }
  std::string Message(const absl::Status& status) { return std::string(status.message()); }
  // Two shards: shard 1 has "a" (F32) and "b" (F16), shard 2 has "c" (BF16).
  void WriteTwoShards() {
    Write("model-00001-of-00002.safetensors",
          testing::BuildSafetensors({{"a", "F32", {2}, F32Bytes({0.25f, -8.0f})},
                                     {"b", "F16", {3}, U16Bytes({0x3C00, 0xC000, 0x0001})}}));
    Write("model-00002-of-00002.safetensors",
          testing::BuildSafetensors({{"c", "BF16", {2, 1}, U16Bytes({0x3F80, 0xC040})}}));
  }
  std::string dir_;
};

TEST_F(CheckpointTest, SingleFile) {
  Write("model.safetensors",
        testing::BuildSafetensors({{"z", "F32", {3}, F32Bytes({1, 2, 3})},
                                   {"h.0.w", "F16", {2}, U16Bytes({0x3800, 0x7BFF})},
                                   {"ids", "I32", {1}, testing::I32Bytes({5})}}));
  auto checkpoint = Checkpoint::Open(dir_);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ(checkpoint->dir(), dir_);
  EXPECT_THAT(checkpoint->TensorNames(), ElementsAre("h.0.w", "ids", "z"));
  EXPECT_TRUE(checkpoint->Contains("z"));
  EXPECT_FALSE(checkpoint->Contains("y"));

  auto ref = checkpoint->Find("h.0.w");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->file, "model.safetensors");
  EXPECT_EQ(ref->tensor->dtype, DType::kF16);
  EXPECT_EQ(ref->data.size(), 4u);

  std::vector<float> out(2);
  ASSERT_TRUE(checkpoint->ReadAsFloat32("h.0.w", absl::MakeSpan(out)).ok());
  EXPECT_EQ(out, (std::vector<float>{0.5f, 65504.0f}));
  std::vector<float> z(3);
  ASSERT_TRUE(checkpoint->ReadAsFloat32("z", absl::MakeSpan(z)).ok());
  EXPECT_EQ(z, (std::vector<float>{1, 2, 3}));
}

TEST_F(CheckpointTest, TrailingSlashInDirectory) {
  Write("model.safetensors", testing::BuildSafetensors({{"z", "F32", {1}, F32Bytes({1})}}));
  auto checkpoint = Checkpoint::Open(dir_ + "/");
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_TRUE(checkpoint->Contains("z"));
}

TEST_F(CheckpointTest, ShardedWithIndex) {
  WriteTwoShards();
  Write("model.safetensors.index.json",
        R"({"metadata":{"total_size":24},"weight_map":{)"
        R"("a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors",)"
        R"("c":"model-00002-of-00002.safetensors"}})");
  auto checkpoint = Checkpoint::Open(dir_);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_THAT(checkpoint->TensorNames(), ElementsAre("a", "b", "c"));
  auto c = checkpoint->Find("c");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->file, "model-00002-of-00002.safetensors");

  std::vector<float> a(2), b(3), cv(2);
  ASSERT_TRUE(checkpoint->ReadAsFloat32("a", absl::MakeSpan(a)).ok());
  ASSERT_TRUE(checkpoint->ReadAsFloat32("b", absl::MakeSpan(b)).ok());
  ASSERT_TRUE(checkpoint->ReadAsFloat32("c", absl::MakeSpan(cv)).ok());
  EXPECT_EQ(a, (std::vector<float>{0.25f, -8.0f}));
  EXPECT_EQ(b, (std::vector<float>{1.0f, -2.0f, std::ldexp(1.0f, -24)}));
  EXPECT_EQ(cv, (std::vector<float>{1.0f, -3.0f}));
}

TEST_F(CheckpointTest, IndexTakesPrecedenceOverSingleFile) {
  WriteTwoShards();
  Write("model.safetensors", testing::BuildSafetensors({{"other", "F32", {1}, F32Bytes({1})}}));
  Write("model.safetensors.index.json",
        R"({"weight_map":{"c":"model-00002-of-00002.safetensors"}})");
  auto checkpoint = Checkpoint::Open(dir_);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_THAT(checkpoint->TensorNames(), ElementsAre("c"));
}

TEST_F(CheckpointTest, NoCheckpointFiles) {
  auto checkpoint = Checkpoint::Open(dir_);
  ASSERT_FALSE(checkpoint.ok());
  EXPECT_TRUE(absl::IsNotFound(checkpoint.status()));
  EXPECT_THAT(Message(checkpoint.status()),
              AllOf(HasSubstr(dir_ + ": "), HasSubstr("model.safetensors.index.json"),
                    HasSubstr("model.safetensors)")));
}

TEST_F(CheckpointTest, MissingDirectory) {
  auto checkpoint = Checkpoint::Open(dir_ + "/nowhere");
  ASSERT_FALSE(checkpoint.ok());
  EXPECT_TRUE(absl::IsNotFound(checkpoint.status()));
  EXPECT_THAT(Message(checkpoint.status()), HasSubstr(dir_ + "/nowhere: "));
}

TEST_F(CheckpointTest, FindMissingTensor) {
  Write("model.safetensors", testing::BuildSafetensors({{"z", "F32", {1}, F32Bytes({1})}}));
  auto checkpoint = Checkpoint::Open(dir_);
  ASSERT_TRUE(checkpoint.ok());
  auto ref = checkpoint->Find("h.7.mlp.dense_4h_to_h.weight");
  ASSERT_FALSE(ref.ok());
  EXPECT_TRUE(absl::IsNotFound(ref.status()));
  EXPECT_THAT(Message(ref.status()),
              AllOf(HasSubstr(dir_), HasSubstr("'h.7.mlp.dense_4h_to_h.weight' not found")));
  std::vector<float> out(1);
  EXPECT_TRUE(absl::IsNotFound(checkpoint->ReadAsFloat32("nope", absl::MakeSpan(out))));
}

TEST_F(CheckpointTest, ReadAsFloat32ChecksCountAndDtype) {
  Write("model.safetensors",
        testing::BuildSafetensors({{"w", "BF16", {2, 2}, U16Bytes({0, 0, 0, 0})},
                                   {"ids", "I32", {2}, testing::I32Bytes({1, 2})}}));
  auto checkpoint = Checkpoint::Open(dir_);
  ASSERT_TRUE(checkpoint.ok());
  std::vector<float> three(3);
  absl::Status status = checkpoint->ReadAsFloat32("w", absl::MakeSpan(three));
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(Message(status), AllOf(HasSubstr(dir_ + "/model.safetensors"),
                                     HasSubstr("'w' has 4 elements, expected 3")));
  std::vector<float> two(2);
  status = checkpoint->ReadAsFloat32("ids", absl::MakeSpan(two));
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(Message(status), AllOf(HasSubstr("'ids'"), HasSubstr("I32")));
}

TEST_F(CheckpointTest, BadSingleFileNamesIt) {
  Write("model.safetensors", "short");
  auto checkpoint = Checkpoint::Open(dir_);
  ASSERT_FALSE(checkpoint.ok());
  EXPECT_THAT(Message(checkpoint.status()), HasSubstr(dir_ + "/model.safetensors: file is 5"));
}

// --- Bad indexes -------------------------------------------------------------

class BadIndexTest : public CheckpointTest {
 protected:
  // Writes the two shards and `index`, then expects Open to fail with a
  // message containing every fragment.
  void ExpectError(const std::string& index, const std::vector<std::string>& fragments) {
    WriteTwoShards();
    Write("model.safetensors.index.json", index);
    auto checkpoint = Checkpoint::Open(dir_);
    ASSERT_FALSE(checkpoint.ok()) << "accepted index: " << index;
    std::string message = Message(checkpoint.status());
    EXPECT_THAT(message, ::testing::Not(HasSubstr("\n")));
    for (const std::string& fragment : fragments) EXPECT_THAT(message, HasSubstr(fragment));
  }
  std::string IndexPath() { return dir_ + "/model.safetensors.index.json"; }
};

TEST_F(BadIndexTest, MalformedJson) {
  ExpectError(R"({"weight_map": )", {IndexPath() + ": malformed JSON"});
}

TEST_F(BadIndexTest, NotAnObject) {
  ExpectError(R"(["a"])", {IndexPath() + ": must be a JSON object"});
}

TEST_F(BadIndexTest, MissingWeightMap) {
  ExpectError(R"({"metadata":{}})", {IndexPath() + ": missing 'weight_map'"});
}

TEST_F(BadIndexTest, WeightMapNotAnObject) {
  ExpectError(R"({"weight_map":["a"]})", {IndexPath() + ": 'weight_map' must be an object"});
}

TEST_F(BadIndexTest, WeightMapValueNotString) {
  ExpectError(R"({"weight_map":{"a":1}})",
              {IndexPath() + ": weight_map entry for tensor 'a' must be a string"});
}

TEST_F(BadIndexTest, EmptyWeightMap) {
  ExpectError(R"({"weight_map":{}})", {IndexPath() + ": 'weight_map' is empty"});
}

TEST_F(BadIndexTest, ShardEscapesDirectory) {
  ExpectError(R"({"weight_map":{"a":"../model-00001-of-00002.safetensors"}})",
              {IndexPath(), "tensor 'a'", "not a plain file name"});
}

TEST_F(BadIndexTest, ShardInSubdirectory) {
  ExpectError(R"({"weight_map":{"a":"sub/x.safetensors"}})", {"not a plain file name"});
}

TEST_F(BadIndexTest, ShardIsDotDot) {
  ExpectError(R"({"weight_map":{"a":".."}})", {"'..'", "not a plain file name"});
}

TEST_F(BadIndexTest, ShardAbsolutePath) {
  ExpectError(R"({"weight_map":{"a":"/etc/passwd"}})", {"not a plain file name"});
}

TEST_F(BadIndexTest, TensorAbsentFromItsShard) {
  ExpectError(R"({"weight_map":{"a":"model-00001-of-00002.safetensors",)"
              R"("c":"model-00001-of-00002.safetensors"}})",
              {IndexPath(), "tensor 'c'", "'model-00001-of-00002.safetensors'",
               "does not contain it"});
}

TEST_F(BadIndexTest, MissingShardFile) {
  ExpectError(R"({"weight_map":{"a":"model-00003-of-00003.safetensors"}})",
              {dir_ + "/model-00003-of-00003.safetensors: No such file or directory"});
}

TEST_F(BadIndexTest, CorruptShard) {
  Write("broken.safetensors", testing::FrameSafetensors("{\"x\":1}", ""));
  ExpectError(R"({"weight_map":{"x":"broken.safetensors"}})",
              {dir_ + "/broken.safetensors: tensor 'x': entry must be an object"});
}

}  // namespace
}  // namespace bloom
