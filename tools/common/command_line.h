// A small command-line parser for the runtime's tools. Flags are spelled
// with dashes (--max-new-tokens=N, as the CLI contract fixes), which
// Abseil's flags cannot express; the compiler side uses llvm::cl instead.
//
// Accepted forms: --name=value, --name value, and --name for boolean
// flags (--name=false turns one off). Everything not starting with "--" is a positional argument;
// "--" ends flag parsing. Unknown flags, missing values and malformed numbers are errors that name
// the flag.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace bloom::tools {

class CommandLine {
 public:
  enum class Kind { kString, kInt, kFloat, kBool };

  CommandLine(std::string program, std::string usage)
      : program_(std::move(program)), usage_(std::move(usage)) {}

  // Declares a flag; `default_value` is shown by --help.
  void AddFlag(std::string name, Kind kind, std::string default_value, std::string help);

  // Starts a group of flags in --help, e.g. "Sampling".
  void AddSection(std::string title);
  // Text printed after the flags by --help (exit codes, examples).
  void SetEpilogue(std::string text) { epilogue_ = std::move(text); }

  // Parses argv. --help is recognised and reported through help_requested().
  absl::Status Parse(int argc, char** argv);

  const std::string& program() const { return program_; }
  bool help_requested() const { return help_requested_; }
  std::string HelpText() const;
  const std::vector<std::string>& positional() const { return positional_; }

  // Whether the flag was given on the command line.
  bool Has(const std::string& name) const;
  std::string GetString(const std::string& name) const;
  // The value as an integer; parse errors were reported by Parse().
  int64_t GetInt(const std::string& name) const;
  // The value as a double; parse errors were reported by Parse().
  double GetDouble(const std::string& name) const;
  bool GetBool(const std::string& name) const;

 private:
  struct Flag {
    Kind kind;
    std::string default_value;
    std::string help;
    std::string value;
    bool given = false;
  };
  std::string program_, usage_;
  std::map<std::string, Flag> flags_;
  // Flag names in declaration order; section titles are kept as entries
  // starting with kSectionMark.
  static constexpr char kSectionMark = '\x01';
  std::vector<std::string> order_;
  std::string epilogue_;
  std::vector<std::string> positional_;
  bool help_requested_ = false;
};

// The tools' one form of a bad flag value: InvalidArgument
// "--flag: problem" (a usage error, exit code 2).
absl::Status FlagError(absl::string_view flag, absl::string_view problem);

}  // namespace bloom::tools
