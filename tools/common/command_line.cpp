#include "tools/common/command_line.h"

#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace bloom::tools {

absl::Status FlagError(absl::string_view flag, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", problem));
}

void CommandLine::AddFlag(std::string name, Kind kind, std::string default_value,
                          std::string help) {
  order_.push_back(name);
  flags_[std::move(name)] = Flag{kind, default_value, std::move(help), default_value, false};
}

void CommandLine::AddSection(std::string title) {
  order_.push_back(std::string(1, kSectionMark) + title);
}

absl::Status CommandLine::Parse(int argc, char** argv) {
  bool flags_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (flags_done || !absl::StartsWith(arg, "--")) {
      positional_.push_back(std::move(arg));
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (name == "help" || name == "h") {
      help_requested_ = true;
      continue;
    }
    auto it = flags_.find(name);
    if (it == flags_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag '--", name, "' (see --help)"));
    }
    Flag& flag = it->second;
    if (flag.given) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " given twice"));
    }
    if (!has_value) {
      if (flag.kind == Kind::kBool) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
    }
    if (flag.kind == Kind::kInt) {
      int64_t parsed;
      if (!absl::SimpleAtoi(value, &parsed)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, ": '", value, "' is not an integer"));
      }
    } else if (flag.kind == Kind::kFloat) {
      double parsed;
      if (!absl::SimpleAtod(value, &parsed) || !std::isfinite(parsed)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, ": '", value, "' is not a finite number"));
      }
    } else if (flag.kind == Kind::kBool && value != "true" && value != "false") {
      return absl::InvalidArgumentError(absl::StrCat("--", name, ": expected true or false"));
    }
    flag.value = std::move(value);
    flag.given = true;
  }
  return absl::OkStatus();
}

std::string CommandLine::HelpText() const {
  // With sections, their titles head the groups; otherwise one "Flags:".
  const bool sections = !order_.empty() && !order_[0].empty() && order_[0][0] == kSectionMark;
  std::string text =
      absl::StrCat("Usage: ", program_, " ", usage_, "\n", sections ? "" : "\nFlags:\n");
  for (const std::string& name : order_) {
    if (!name.empty() && name[0] == kSectionMark) {
      absl::StrAppend(&text, "\n", name.substr(1), ":\n");
      continue;
    }
    const Flag& flag = flags_.at(name);
    std::string spelling = absl::StrCat("  --", name, flag.kind == Kind::kBool ? "" : "=VALUE");
    absl::StrAppend(&text, spelling, "\n      ", flag.help);
    if (!flag.default_value.empty()) absl::StrAppend(&text, " (default: ", flag.default_value, ")");
    absl::StrAppend(&text, "\n");
  }
  absl::StrAppend(&text, "  --help\n      Print this text and exit.\n");
  if (!epilogue_.empty()) absl::StrAppend(&text, "\n", epilogue_);
  return text;
}

bool CommandLine::Has(const std::string& name) const { return flags_.at(name).given; }
std::string CommandLine::GetString(const std::string& name) const { return flags_.at(name).value; }
int64_t CommandLine::GetInt(const std::string& name) const {
  int64_t value = 0;
  (void)absl::SimpleAtoi(flags_.at(name).value, &value);
  return value;
}
double CommandLine::GetDouble(const std::string& name) const {
  double value = 0;
  (void)absl::SimpleAtod(flags_.at(name).value, &value);
  return value;
}
bool CommandLine::GetBool(const std::string& name) const { return flags_.at(name).value == "true"; }

}  // namespace bloom::tools
