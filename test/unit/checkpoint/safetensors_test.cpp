// The safetensors reader on good files and on every kind of bad header. Bad
// cases frame hand-written header text, so each test controls exactly one
// defect; every error must be one line naming the file and the problem.
#include "runtime/checkpoint/safetensors.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/unit/checkpoint/safetensors_bytes.h"

namespace bloom {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::F32Bytes;
using testing::FrameSafetensors;
using testing::U16Bytes;

constexpr char kLabel[] = "dir/bad.safetensors";

absl::StatusOr<SafetensorsHeader> Parse(const std::string& bytes) {
  return ParseSafetensorsHeader(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                                kLabel);
}

// Parses `header` framed over `data` and expects an error whose message
// starts with the label and contains every fragment.
void ExpectError(const std::string& header, const std::string& data,
                 const std::vector<std::string>& fragments) {
  auto result = Parse(FrameSafetensors(header, data));
  ASSERT_FALSE(result.ok()) << "header accepted: " << header;
  std::string message(result.status().message());
  EXPECT_EQ(message.rfind(std::string(kLabel) + ": ", 0), 0u) << message;
  EXPECT_THAT(message, Not(HasSubstr("\n")));
  for (const std::string& fragment : fragments) EXPECT_THAT(message, HasSubstr(fragment));
}

// --- Good files ------------------------------------------------------------

TEST(SafetensorsParseTest, ReadsEveryField) {
  std::string bytes = testing::BuildSafetensors(
      {{"a", "F32", {2, 3}, F32Bytes({1, 2, 3, 4, 5, 6})},
       {"b", "F16", {4}, U16Bytes({0x3C00, 0, 0, 0})},
       {"c", "BF16", {1, 1, 2}, U16Bytes({0x3F80, 0x4000})},
       {"d", "I32", {}, testing::I32Bytes({7})}},
      {{"format", "pt"}});
  auto header = Parse(bytes);
  ASSERT_TRUE(header.ok()) << header.status();
  // Header text length: recover it from the first 8 bytes independently.
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(header->data_offset, 8 + n);
  ASSERT_EQ(header->tensors.size(), 4u);
  const SafetensorsTensor& a = header->tensors.at("a");
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.dtype, DType::kF32);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.begin, 0u);
  EXPECT_EQ(a.end, 24u);
  EXPECT_EQ(a.NumElements(), 6);
  const SafetensorsTensor& b = header->tensors.at("b");
  EXPECT_EQ(b.dtype, DType::kF16);
  EXPECT_EQ(b.begin, 24u);
  EXPECT_EQ(b.end, 32u);
  const SafetensorsTensor& c = header->tensors.at("c");
  EXPECT_EQ(c.dtype, DType::kBF16);
  EXPECT_EQ(c.NumElements(), 2);
  const SafetensorsTensor& d = header->tensors.at("d");
  EXPECT_EQ(d.dtype, DType::kI32);
  EXPECT_TRUE(d.shape.empty());
  EXPECT_EQ(d.NumElements(), 1);  // a scalar
  EXPECT_EQ(header->metadata.size(), 1u);
  EXPECT_EQ(header->metadata.at("format"), "pt");
}

TEST(SafetensorsParseTest, EmptyTensorsAndEmptyHeader) {
  auto header = Parse(FrameSafetensors(
      R"({"z":{"dtype":"F32","shape":[0,5],"data_offsets":[0,0]},)"
      R"("y":{"dtype":"F16","shape":[3,0],"data_offsets":[0,0]}})",
      ""));
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->tensors.at("z").NumElements(), 0);
  auto empty = Parse(FrameSafetensors("{}", ""));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->tensors.empty());
}

TEST(SafetensorsParseTest, GapsBetweenTensorsAreAllowed) {
  auto header = Parse(FrameSafetensors(
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::string(12, '\0')));
  ASSERT_TRUE(header.ok()) << header.status();
}

TEST(SafetensorsFileTest, OpensAndHandsOutData) {
  std::string dir = testing::MakeTempDir();
  std::string path = dir + "/model.safetensors";
  ASSERT_TRUE(testing::WriteFile(
      path, testing::BuildSafetensors({{"x", "F32", {2}, F32Bytes({1.5f, -2.0f})},
                                       {"y", "BF16", {3}, U16Bytes({0x3F80, 0xC040, 0})}})));
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->path(), path);
  EXPECT_EQ(file->Find("absent"), nullptr);
  const SafetensorsTensor* y = file->Find("y");
  ASSERT_NE(y, nullptr);
  absl::Span<const uint8_t> data = file->Data(*y);
  ASSERT_EQ(data.size(), 6u);
  // Little-endian 0x3F80, 0xC040, 0x0000.
  EXPECT_EQ(std::vector<uint8_t>(data.begin(), data.end()),
            (std::vector<uint8_t>{0x80, 0x3F, 0x40, 0xC0, 0, 0}));
  const SafetensorsTensor* x = file->Find("x");
  ASSERT_NE(x, nullptr);
  absl::Span<const uint8_t> xd = file->Data(*x);
  ASSERT_EQ(xd.size(), 8u);
  EXPECT_EQ(xd[2], 0xC0);  // 1.5f = 0x3FC00000
  EXPECT_EQ(xd[3], 0x3F);
}

// --- Bad files: framing ----------------------------------------------------

TEST(SafetensorsBadInputTest, ShorterThanEightBytes) {
  auto result = Parse("abc");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()),
              AllOf(HasSubstr(kLabel), HasSubstr("3 bytes"), HasSubstr("too short")));
  EXPECT_FALSE(Parse("").ok());
}

TEST(SafetensorsBadInputTest, HeaderLengthPastEndOfFile) {
  std::string bytes = FrameSafetensors("{}", "");
  bytes[0] = 100;  // claims 100 header bytes; the file has 2 after the length
  auto result = Parse(bytes);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()),
              AllOf(HasSubstr(kLabel), HasSubstr("header length 100 runs past the end")));
}

TEST(SafetensorsBadInputTest, HeaderLengthAbsurd) {
  std::string bytes(8, '\xff');  // N = 2^64 - 1: must not wrap in any sum
  bytes += "{}";
  auto result = Parse(bytes);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()),
              AllOf(HasSubstr(kLabel), HasSubstr("exceeds the limit")));
}

TEST(SafetensorsBadInputTest, MalformedJson) {
  ExpectError(R"({"a": {"dtype": "F32",)", "", {"malformed JSON"});
}

TEST(SafetensorsBadInputTest, InvalidUtf8) {
  ExpectError("{\"\xff\xfe\":{}}", "", {"malformed JSON"});
}

TEST(SafetensorsBadInputTest, HeaderNotAnObject) {
  ExpectError(R"([1, 2, 3])", "", {"header must be a JSON object", "array"});
}

TEST(SafetensorsBadInputTest, EntryNotAnObject) {
  ExpectError(R"({"w": [1, 2]})", "", {"tensor 'w'", "entry must be an object"});
}

TEST(SafetensorsBadInputTest, MissingDtype) {
  ExpectError(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0'),
              {"tensor 'w'", "missing 'dtype'"});
}

TEST(SafetensorsBadInputTest, DtypeNotString) {
  ExpectError(R"({"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0'),
              {"tensor 'w'", "'dtype' must be a string"});
}

TEST(SafetensorsBadInputTest, UnknownDtype) {
  ExpectError(R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})",
              std::string(8, '\0'), {"tensor 'w'", "unsupported dtype 'F64'"});
}

TEST(SafetensorsBadInputTest, MissingShape) {
  ExpectError(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", std::string(4, '\0'),
              {"tensor 'w'", "missing 'shape'"});
}

TEST(SafetensorsBadInputTest, ShapeNotArray) {
  ExpectError(R"({"w":{"dtype":"F32","shape":4,"data_offsets":[0,4]}})", std::string(4, '\0'),
              {"tensor 'w'", "'shape' must be an array"});
}

TEST(SafetensorsBadInputTest, ShapeDimensionNotInteger) {
  ExpectError(R"({"w":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}})",
              std::string(4, '\0'), {"tensor 'w'", "shape[0] must be an integer"});
  ExpectError(R"({"w":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}})",
              std::string(4, '\0'), {"tensor 'w'", "shape[0] must be an integer"});
}

TEST(SafetensorsBadInputTest, NegativeDimension) {
  ExpectError(R"({"w":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,0]}})", "",
              {"tensor 'w'", "shape[1] is negative"});
}

TEST(SafetensorsBadInputTest, ElementCountOverflow) {
  // 2^32 * 2^32 elements overflows 64 bits.
  ExpectError(
      R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", "",
      {"tensor 'w'", "element count overflows"});
  // 2^62 elements fit, but 2^62 * 4 bytes do not.
  ExpectError(R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})",
              "", {"tensor 'w'", "overflows"});
  // A dimension beyond int64.
  ExpectError(R"({"w":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,0]}})",
              "", {"tensor 'w'", "too large"});
}

TEST(SafetensorsBadInputTest, MissingDataOffsets) {
  ExpectError(R"({"w":{"dtype":"F32","shape":[1]}})", std::string(4, '\0'),
              {"tensor 'w'", "missing 'data_offsets'"});
}

TEST(SafetensorsBadInputTest, DataOffsetsNotAPair) {
  ExpectError(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})",
              std::string(8, '\0'), {"tensor 'w'", "'data_offsets' must be an array [begin, end]"});
  ExpectError(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":{"b":0}}})",
              std::string(4, '\0'), {"tensor 'w'", "'data_offsets' must be an array"});
}

TEST(SafetensorsBadInputTest, DataOffsetsNotIntegers) {
  ExpectError(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,"4"]}})",
              std::string(4, '\0'), {"tensor 'w'", "data_offsets end must be an integer"});
  ExpectError(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})",
              std::string(4, '\0'), {"tensor 'w'", "data_offsets begin is negative"});
}

TEST(SafetensorsBadInputTest, BeginAfterEnd) {
  ExpectError(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})",
              std::string(8, '\0'), {"tensor 'w'", "[8, 4]", "begin after end"});
}

TEST(SafetensorsBadInputTest, EndPastDataSection) {
  ExpectError(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
              std::string(10, '\0'),
              {"tensor 'w'", "[4, 12)", "ends past the data section (10 bytes)"});
}

TEST(SafetensorsBadInputTest, ByteSizeDisagreesWithShape) {
  ExpectError(R"({"w":{"dtype":"F16","shape":[3],"data_offsets":[0,4]}})",
              std::string(8, '\0'),
              {"tensor 'w'", "holds 4 bytes but 3 elements of F16 need 6"});
}

// int4: two to a byte, so [2, 4] takes 4 bytes; rows must fill whole bytes.
TEST(SafetensorsParseTest, PackedInt4AndInt8) {
  auto header = Parse(testing::BuildSafetensors(
      {{"q4", "I4", {2, 4}, "\x10\x32\x54\x76"}, {"q8", "I8", {3}, "\x01\x02\x03"}}));
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->tensors.at("q4").dtype, DType::kI4);
  EXPECT_EQ(header->tensors.at("q4").end - header->tensors.at("q4").begin, 4u);
  EXPECT_EQ(header->tensors.at("q8").dtype, DType::kI8);
}

TEST(SafetensorsBadInputTest, Int4ByteSizeIsHalfTheElements) {
  ExpectError(R"({"q":{"dtype":"I4","shape":[2,4],"data_offsets":[0,8]}})", std::string(8, '\0'),
              {"tensor 'q'", "holds 8 bytes but 8 elements of I4 need 4"});
}

TEST(SafetensorsBadInputTest, Int4RowsMustFillBytes) {
  ExpectError(R"({"q":{"dtype":"I4","shape":[2,3],"data_offsets":[0,3]}})", std::string(3, '\0'),
              {"tensor 'q'", "multiple of 2", "[2, 3]"});
}

TEST(SafetensorsBadInputTest, OverlappingTensors) {
  ExpectError(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
              R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
              std::string(12, '\0'), {"tensor 'b'", "overlaps tensor 'a'"});
  // Overlap with a range that is not the immediately preceding one.
  ExpectError(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
              R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
              R"("c":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
              std::string(16, '\0'), {"overlaps tensor 'a'"});
  // The same range twice.
  ExpectError(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
              R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
              std::string(4, '\0'), {"overlaps tensor 'a'"});
}

TEST(SafetensorsBadInputTest, MetadataNotAnObject) {
  ExpectError(R"({"__metadata__":["pt"]})", "", {"'__metadata__' must be an object"});
}

TEST(SafetensorsBadInputTest, MetadataValueNotString) {
  ExpectError(R"({"__metadata__":{"format":"pt","step":3}})", "",
              {"'__metadata__' value for 'step' must be a string"});
}

TEST(SafetensorsBadInputTest, HostileNameStaysOnOneLine) {
  ExpectError("{\"evil\\nname\":{\"dtype\":\"F99\",\"shape\":[],\"data_offsets\":[0,0]}}", "",
              {"tensor 'evil\\nname'", "unsupported dtype"});
}

// --- Bad files on disk -----------------------------------------------------

TEST(SafetensorsFileTest, TruncatedFile) {
  std::string path = testing::MakeTempDir() + "/model.safetensors";
  std::string bytes = testing::BuildSafetensors({{"w", "F32", {4}, F32Bytes({1, 2, 3, 4})}});
  bytes.resize(bytes.size() - 3);  // cut into the last tensor
  ASSERT_TRUE(testing::WriteFile(path, bytes));
  auto file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(std::string(file.status().message()),
              AllOf(HasSubstr(path + ": tensor 'w'"), HasSubstr("ends past the data section")));
}

TEST(SafetensorsFileTest, TruncatedInsideHeader) {
  std::string path = testing::MakeTempDir() + "/model.safetensors";
  std::string bytes = testing::BuildSafetensors({{"w", "F32", {1}, F32Bytes({1})}});
  ASSERT_TRUE(testing::WriteFile(path, bytes.substr(0, 20)));
  auto file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(std::string(file.status().message()),
              AllOf(HasSubstr(path + ": header length"), HasSubstr("runs past the end")));
}

TEST(SafetensorsFileTest, MissingFile) {
  std::string path = testing::MakeTempDir() + "/nope.safetensors";
  auto file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_TRUE(absl::IsNotFound(file.status()));
  EXPECT_EQ(file.status().message(), path + ": No such file or directory");
}

TEST(SafetensorsFileTest, EmptyFile) {
  std::string path = testing::MakeTempDir() + "/empty.safetensors";
  ASSERT_TRUE(testing::WriteFile(path, ""));
  auto file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(std::string(file.status().message()), HasSubstr(path + ": file is 0 bytes"));
}

}  // namespace
}  // namespace bloom
