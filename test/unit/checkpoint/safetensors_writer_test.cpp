// The safetensors writer: tiny files against hand-written bytes in both key
// orders, files read back through the project's reader (safetensors.h),
// int8/int4 tensors, layout-only files (header, full size, zeros), writes
// from several threads, and the refusals.
#include "runtime/checkpoint/safetensors_writer.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/checkpoint/generated_weights.h"
#include "runtime/checkpoint/safetensors.h"
#include "runtime/support/packed_int4.h"
#include "test/unit/checkpoint/safetensors_bytes.h"

namespace bloom {
namespace {

using ::testing::HasSubstr;

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Fills tensor i with `contents[i]`.
SafetensorsFill FillFrom(const std::vector<std::string>& contents) {
  return [contents](size_t index, std::vector<uint8_t>& bytes) {
    if (contents[index].size() != bytes.size()) {
      return absl::InternalError("test fill of the wrong size");
    }
    std::copy(contents[index].begin(), contents[index].end(), bytes.begin());
    return absl::OkStatus();
  };
}

std::string Frame(uint8_t length, const std::string& json) {
  return std::string(1, static_cast<char>(length)) + std::string(7, '\0') + json;
}

TEST(SafetensorsWriterTest, DataOrderMatchesHandWrittenBytes) {
  const std::string path = testing::MakeTempDir() + "/a.safetensors";
  const std::string a = testing::F32Bytes({1.0f, 2.0f}), b = testing::U16Bytes({0x3F80});
  ASSERT_TRUE(WriteSafetensors(path, {{"a", DType::kF32, {2}}, {"b", DType::kBF16, {1}}}, {},
                               FillFrom({a, b}))
                  .ok());
  // 140 bytes of JSON padded with 4 spaces to 144 = 0x90.
  const std::string expected =
      Frame(0x90, R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],)"
                  R"("data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[8,10]}})"
                  "    ") +
      a + b;
  EXPECT_EQ(ReadBytes(path), expected);
  // The test helper's independent string-built file agrees.
  EXPECT_EQ(
      ReadBytes(path),
      testing::BuildSafetensors({{"a", "F32", {2}, a}, {"b", "BF16", {1}, b}}, {{"format", "pt"}}));
}

TEST(SafetensorsWriterTest, SortedOrderMatchesHandWrittenBytes) {
  const std::string path = testing::MakeTempDir() + "/s.safetensors";
  SafetensorsHeaderOptions options;
  options.order = SafetensorsKeyOrder::kSorted;
  options.metadata["x"] = "1";
  const std::string b = testing::F32Bytes({1.0f, 2.0f}), a = testing::U16Bytes({0x3F80});
  // Data in the order given (b first); header members sorted (a first).
  ASSERT_TRUE(WriteSafetensors(path, {{"b", DType::kF32, {2}}, {"a", DType::kBF16, {1}}}, options,
                               FillFrom({b, a}))
                  .ok());
  const std::string expected =
      Frame(0x98,
            R"({"__metadata__":{"format":"pt","x":"1"},"a":{"data_offsets":[8,10],)"
            R"("dtype":"BF16","shape":[1]},"b":{"data_offsets":[0,8],"dtype":"F32","shape":[2]}})"
            "    ") +
      b + a;
  EXPECT_EQ(ReadBytes(path), expected);
}

TEST(SafetensorsWriterTest, ReadsBackThroughTheReader) {
  const std::string path = testing::MakeTempDir() + "/r.safetensors";
  // int4 [2, 4]: rows {1,-1,7,-8} and {0,3,-2,5}; int8 [3]; and floats.
  std::vector<uint8_t> packed(4);
  ASSERT_TRUE(
      PackInt4(std::vector<int8_t>{1, -1, 7, -8, 0, 3, -2, 5}, absl::MakeSpan(packed)).ok());
  const std::string q4(packed.begin(), packed.end()), q8 = "\x01\xFF\x80";
  const std::string f = testing::F32Bytes({0.5f, -1.0f, 3.0f});
  SafetensorsHeaderOptions options;
  options.metadata["producer"] = "test";
  ASSERT_TRUE(WriteSafetensors(
                  path,
                  {{"f", DType::kF32, {3}}, {"q8", DType::kI8, {3}}, {"q4", DType::kI4, {2, 4}}},
                  options, FillFrom({f, q8, q4}))
                  .ok());
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->header().metadata.at("producer"), "test");
  EXPECT_EQ(file->header().metadata.at("format"), "pt");
  const SafetensorsTensor* t4 = file->Find("q4");
  ASSERT_NE(t4, nullptr);
  EXPECT_EQ(t4->dtype, DType::kI4);
  EXPECT_EQ(t4->shape, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(t4->end - t4->begin, 4u);  // 8 values, two to a byte
  absl::Span<const uint8_t> data = file->Data(*t4);
  EXPECT_EQ(std::string(data.begin(), data.end()), q4);
  EXPECT_EQ(Int4At(data.data(), 3), -8);
  EXPECT_EQ(Int4At(data.data(), 7), 5);
  const SafetensorsTensor* t8 = file->Find("q8");
  ASSERT_NE(t8, nullptr);
  EXPECT_EQ(t8->dtype, DType::kI8);
  data = file->Data(*t8);
  EXPECT_EQ(std::string(data.begin(), data.end()), q8);
  std::vector<float> values(3);
  ASSERT_TRUE(
      file->ReadSliceAsFloat32(*file->Find("f"), -1, 0, 0, absl::MakeSpan(values), "f").ok());
  EXPECT_EQ(values, (std::vector<float>{0.5f, -1.0f, 3.0f}));
  // Quantized values are not floats: reading them as such is refused.
  absl::Status refused = file->ReadSliceAsFloat32(*t8, -1, 0, 0, absl::MakeSpan(values), "q8");
  EXPECT_THAT(std::string(refused.message()), HasSubstr("I8 cannot be read as float32"));
}

TEST(SafetensorsWriterTest, LayoutOnlyFileIsHeaderAndZeros) {
  const std::string path = testing::MakeTempDir() + "/l.safetensors";
  SafetensorsHeaderOptions options;
  options.order = SafetensorsKeyOrder::kSorted;
  options.metadata = GeneratedWeightsMetadata(9, {{"w", ValueDistribution{0.0f, 0.02f}}});
  options.metadata["format"] = "pt";
  absl::StatusOr<SafetensorsLayout> layout =
      LayOutSafetensors({{"w", DType::kBF16, {256, 512}}}, options, path);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->bytes, (std::vector<uint64_t>{256 * 512 * 2}));
  EXPECT_EQ(layout->begin, (std::vector<uint64_t>{layout->header.size()}));
  EXPECT_EQ(layout->header.size() % 8, 0u);
  EXPECT_EQ(layout->file_size, layout->header.size() + 256 * 512 * 2);
  absl::StatusOr<SafetensorsFileWriter> writer = SafetensorsFileWriter::Create(path, *layout);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE(writer->Close().ok());

  const std::string bytes = ReadBytes(path);
  ASSERT_EQ(bytes.size(), layout->file_size);
  EXPECT_EQ(bytes.substr(0, layout->header.size()), layout->header);
  EXPECT_EQ(bytes.find_first_not_of('\0', layout->header.size()), std::string::npos);
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE(file->generated());
  EXPECT_EQ(file->header().generated->seed, 9u);
}

TEST(SafetensorsWriterTest, WritesFromSeveralThreads) {
  const std::string path = testing::MakeTempDir() + "/t.safetensors";
  absl::StatusOr<SafetensorsLayout> layout =
      LayOutSafetensors({{"x", DType::kI8, {4, 1000}}, {"y", DType::kI8, {10}}}, {}, path);
  ASSERT_TRUE(layout.ok());
  absl::StatusOr<SafetensorsFileWriter> writer = SafetensorsFileWriter::Create(path, *layout);
  ASSERT_TRUE(writer.ok());
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const std::vector<uint8_t> row(1000, static_cast<uint8_t>('a' + t));
      results[t] = writer->WriteTensorBytes(0, 1000 * t, row);
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const absl::Status& result : results) EXPECT_TRUE(result.ok()) << result;
  ASSERT_TRUE(writer->Close().ok());
  const std::string bytes = ReadBytes(path);
  const std::string data = bytes.substr(layout->header.size());
  EXPECT_EQ(data, std::string(1000, 'a') + std::string(1000, 'b') + std::string(1000, 'c') +
                      std::string(1000, 'd') + std::string(10, '\0'));
}

TEST(SafetensorsWriterTest, Refusals) {
  const std::string dir = testing::MakeTempDir();
  auto message = [](const absl::Status& status) { return std::string(status.message()); };
  EXPECT_THAT(message(LayOutSafetensors({{"a", DType::kF32, {1}}, {"a", DType::kF16, {1}}}, {},
                                        "f.safetensors")
                          .status()),
              HasSubstr("f.safetensors: tensor 'a' written twice"));
  EXPECT_THAT(message(LayOutSafetensors({{"__metadata__", DType::kF32, {1}}}, {}, "f").status()),
              HasSubstr("metadata's name"));
  EXPECT_THAT(message(LayOutSafetensors({{"q", DType::kI4, {2, 3}}}, {}, "f").status()),
              HasSubstr("multiple of 2"));

  absl::StatusOr<SafetensorsLayout> layout = LayOutSafetensors({{"a", DType::kF32, {2}}}, {}, "f");
  ASSERT_TRUE(layout.ok());
  absl::StatusOr<SafetensorsFileWriter> writer =
      SafetensorsFileWriter::Create(dir + "/w.safetensors", *layout);
  ASSERT_TRUE(writer.ok());
  const std::vector<uint8_t> four(4), twelve(12);
  EXPECT_TRUE(writer->WriteTensorBytes(0, 4, four).ok());
  EXPECT_THAT(message(writer->WriteTensorBytes(0, 5, four)), HasSubstr("outside tensor 0"));
  EXPECT_THAT(message(writer->WriteTensorBytes(0, 0, twelve)), HasSubstr("outside tensor 0"));
  EXPECT_THAT(message(writer->WriteTensorBytes(1, 0, four)), HasSubstr("outside tensor 1"));
  ASSERT_TRUE(writer->Close().ok());
  EXPECT_THAT(message(writer->WriteTensorBytes(0, 0, four)), HasSubstr("already closed"));

  EXPECT_THAT(message(SafetensorsFileWriter::Create(dir + "/no/such/dir/x", *layout).status()),
              HasSubstr("cannot create"));
  // A fill's error comes back; a fill that resizes its buffer is caught.
  EXPECT_THAT(message(WriteSafetensors(dir + "/e.safetensors", {{"a", DType::kF32, {1}}}, {},
                                       [](size_t, std::vector<uint8_t>&) {
                                         return absl::DataLossError("fill failed");
                                       })),
              HasSubstr("fill failed"));
  EXPECT_THAT(message(WriteSafetensors(dir + "/e.safetensors", {{"a", DType::kF32, {1}}}, {},
                                       [](size_t, std::vector<uint8_t>& bytes) {
                                         bytes.resize(2);
                                         return absl::OkStatus();
                                       })),
              HasSubstr("filled with 2 bytes, not 4"));
}

}  // namespace
}  // namespace bloom
