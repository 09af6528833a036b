// Stop strings on generated text, for streaming: text arrives in pieces
// (one per token) and must be released as early as possible, but never a
// byte of a stop string, even one split across tokens. So the matcher holds
// back the longest tail of the unreleased text that is a proper prefix of
// some stop string, and releases the rest.
//
// Invariants: released text + held text == all pushed text up to the stop;
// once stopped, the released text ends just before the first (leftmost)
// occurrence of any stop string in the whole text, and nothing more is
// released. Matching is on bytes; since stop strings and pushed pieces are
// whole UTF-8 characters, a held tail never starts inside a character.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace bloom {

class StopStringMatcher {
 public:
  // Empty stop strings are ignored.
  explicit StopStringMatcher(std::vector<std::string> stop_strings);

  // Appends `text`; returns what can be released now.
  std::string Push(absl::string_view text);
  // Releases what is held back (generation ended without a stop string).
  std::string Flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace bloom
