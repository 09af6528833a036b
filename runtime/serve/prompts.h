// Where prompts come from and how they are made to fit the plan: the
// tokenizer's location, text from --prompt / --prompt-file / stdin, ids
// from --tokens, and the max_seq_len check (or --truncate, which keeps the
// end of the prompt).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tokenizer/tokenizer.h"

namespace bloom::serve {

// The tokenizer.json to use: `flag` (a file, or a directory holding
// tokenizer.json) when given, else PLAN_DIR/tokenizer.json, else
// CHECKPOINT_DIR/tokenizer.json; nullopt when none exists.
std::optional<std::string> FindTokenizer(const std::string& flag, const std::string& plan_dir,
                                         const std::string& checkpoint_dir);

// Loads the tokenizer for text input; NotFound (one line naming every place
// looked at) when there is none.
absl::StatusOr<Tokenizer> LoadTokenizer(const std::string& flag, const std::string& plan_dir,
                                        const std::string& checkpoint_dir);

// The whole of a file, or of stdin when `path` is empty.
absl::StatusOr<std::string> ReadAll(const std::string& path);

// "1,2,3" into ids in [0, vocab).
absl::StatusOr<std::vector<int32_t>> ParseTokenList(const std::string& text, int64_t vocab);

// Makes prompt + max_new_tokens - 1 positions fit max_seq_len: unchanged
// when it fits; with `truncate`, the last tokens that fit; otherwise
// OutOfRange naming `label`, the sizes and --truncate.
absl::Status FitPrompt(std::vector<int32_t>& prompt, int32_t max_new_tokens, int32_t max_seq_len,
                       bool truncate, const std::string& label);

}  // namespace bloom::serve
