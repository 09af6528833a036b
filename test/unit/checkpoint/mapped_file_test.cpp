#include "runtime/support/mapped_file.h"

#include <string>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/unit/checkpoint/safetensors_bytes.h"

namespace bloom {
namespace {

using ::testing::HasSubstr;

TEST(MappedFileTest, MapsContents) {
  std::string dir = testing::MakeTempDir();
  ASSERT_FALSE(dir.empty());
  std::string path = dir + "/data.bin";
  std::string contents("hello\0world", 11);
  ASSERT_TRUE(testing::WriteFile(path, contents));
  auto file = MappedFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->path(), path);
  ASSERT_EQ(file->size(), contents.size());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(file->data()), file->size()), contents);
}

TEST(MappedFileTest, EmptyFile) {
  std::string path = testing::MakeTempDir() + "/empty";
  ASSERT_TRUE(testing::WriteFile(path, ""));
  auto file = MappedFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->size(), 0u);
  EXPECT_EQ(file->data(), nullptr);
}

TEST(MappedFileTest, MissingFileNamesPath) {
  std::string path = testing::MakeTempDir() + "/absent.bin";
  auto file = MappedFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_TRUE(absl::IsNotFound(file.status()));
  EXPECT_EQ(file.status().message(), path + ": No such file or directory");
}

TEST(MappedFileTest, DirectoryIsAnError) {
  std::string dir = testing::MakeTempDir();
  auto file = MappedFile::Open(dir);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(std::string(file.status().message()), HasSubstr(dir + ": "));
}

TEST(MappedFileTest, MoveTransfersMapping) {
  std::string path = testing::MakeTempDir() + "/m.bin";
  ASSERT_TRUE(testing::WriteFile(path, "abcdef"));
  auto opened = MappedFile::Open(path);
  ASSERT_TRUE(opened.ok());
  MappedFile a = std::move(*opened);
  const uint8_t* data = a.data();
  MappedFile b(std::move(a));
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.data(), data);
  EXPECT_EQ(b.data()[5], 'f');
  MappedFile c;
  c = std::move(b);
  EXPECT_EQ(b.data(), nullptr);
  EXPECT_EQ(c.size(), 6u);
  EXPECT_EQ(c.data()[0], 'a');
}

}  // namespace
}  // namespace bloom
