#include "runtime/serve/prompts.h"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace bloom::serve {
namespace {

bool IsFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

std::optional<std::string> FindTokenizer(const std::string& flag, const std::string& plan_dir,
                                         const std::string& checkpoint_dir) {
  if (!flag.empty()) {
    const std::string path = IsDirectory(flag) ? flag + "/tokenizer.json" : flag;
    return IsFile(path) ? std::optional<std::string>(path) : std::nullopt;
  }
  for (const std::string& dir : {plan_dir, checkpoint_dir}) {
    if (!dir.empty() && IsFile(dir + "/tokenizer.json")) return dir + "/tokenizer.json";
  }
  return std::nullopt;
}

absl::StatusOr<Tokenizer> LoadTokenizer(const std::string& flag, const std::string& plan_dir,
                                        const std::string& checkpoint_dir) {
  std::optional<std::string> path = FindTokenizer(flag, plan_dir, checkpoint_dir);
  if (!path) {
    if (!flag.empty()) {
      return absl::NotFoundError(absl::StrCat("--tokenizer: no tokenizer.json at ", flag));
    }
    return absl::NotFoundError(absl::StrCat(
        "text input needs a tokenizer, but there is no tokenizer.json in the plan directory (",
        plan_dir, ") or the checkpoint directory (", checkpoint_dir,
        "); give one with --tokenizer=PATH or use --tokens"));
  }
  return Tokenizer::Load(*path);
}

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  if (path.empty()) {
    std::ostringstream text;
    text << std::cin.rdbuf();
    if (std::cin.bad()) return absl::DataLossError("stdin: read failed");
    return text.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the file"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read failed"));
  return text;
}

absl::StatusOr<std::vector<int32_t>> ParseTokenList(const std::string& text, int64_t vocab) {
  std::vector<int32_t> ids;
  if (text.empty()) return absl::InvalidArgumentError("--tokens: no prompt given");
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t id;
    if (!absl::SimpleAtoi(part, &id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tokens: '", part, "' at index ", ids.size(), " is not an integer"));
    }
    if (id < 0 || id >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat("--tokens: token id ", id, " at index ",
                                                     ids.size(), " is outside the vocabulary [0, ",
                                                     vocab, ")"));
    }
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

absl::Status FitPrompt(std::vector<int32_t>& prompt, int32_t max_new_tokens, int32_t max_seq_len,
                       bool truncate, const std::string& label) {
  // The last generated token is never fed back: P + N - 1 positions.
  const int64_t room = static_cast<int64_t>(max_seq_len) - max_new_tokens + 1;
  if (static_cast<int64_t>(prompt.size()) <= room) return absl::OkStatus();
  if (room < 1) {
    return absl::OutOfRangeError(
        absl::StrCat(label, ": max_new_tokens=", max_new_tokens,
                     " leaves no room for a prompt in the plan's max_seq_len=", max_seq_len));
  }
  if (!truncate) {
    return absl::OutOfRangeError(absl::StrCat(
        label, ": the prompt has ", prompt.size(), " tokens; with max_new_tokens=", max_new_tokens,
        " it needs ", prompt.size() + max_new_tokens - 1,
        " positions but the plan's max_seq_len is ", max_seq_len, " (--truncate keeps the last ",
        room, " tokens)"));
  }
  prompt.erase(prompt.begin(), prompt.end() - room);
  return absl::OkStatus();
}

}  // namespace bloom::serve
