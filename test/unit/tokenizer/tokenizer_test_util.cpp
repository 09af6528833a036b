#include "tokenizer_test_util.h"

#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "test/unit/checkpoint/safetensors_bytes.h"

namespace bloom::tokenizer_test {

std::string RepoPath(const std::string& relative) {
  return std::string(BLOOM_SOURCE_DIR) + "/" + relative;
}

std::string TinyTokenizerPath() { return RepoPath("models/bloom/tiny-random/tokenizer.json"); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

nlohmann::json ReadJson(const std::string& path) {
  return nlohmann::json::parse(ReadFile(path));
}

std::string WriteTempFile(const std::string& name, const std::string& text) {
  // A directory per file: ctest runs tests as parallel processes.
  const std::string path = bloom::testing::MakeTempDir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  EXPECT_TRUE(out.good()) << "cannot write " << path;
  return path;
}

}  // namespace bloom::tokenizer_test
