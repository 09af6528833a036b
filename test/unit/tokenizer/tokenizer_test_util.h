// Shared helpers of the tokenizer tests: repository files and JSON.
#pragma once

#include <string>

#include "nlohmann/json.hpp"

namespace bloom::tokenizer_test {

// Path of a file in the repository.
std::string RepoPath(const std::string& relative);

// The tiny tokenizer used by every golden: models/bloom/tiny-random.
std::string TinyTokenizerPath();

// Whole file, or a test failure (and "") if it cannot be read.
std::string ReadFile(const std::string& path);

nlohmann::json ReadJson(const std::string& path);

// Writes `text` to a fresh file under the test's temporary directory and
// returns its path.
std::string WriteTempFile(const std::string& name, const std::string& text);

}  // namespace bloom::tokenizer_test
