// Generated ids to text as they arrive: the tokenizer's StreamDecoder
// (whole UTF-8 characters only; special tokens such as </s> skipped) feeds
// a StopStringMatcher (no byte of a stop string is ever released). What
// Next() and Finish() return, concatenated, is the request's final text:
// the decoded continuation, cut just before the first stop string.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/serve/stop_strings.h"
#include "runtime/tokenizer/tokenizer.h"

namespace bloom {

class TextStream {
 public:
  // The tokenizer must outlive the stream.
  TextStream(const Tokenizer& tokenizer, std::vector<std::string> stop_strings)
      : decoder_(tokenizer, /*skip_special_tokens=*/true), stops_(std::move(stop_strings)) {}

  // The text that can be shown after `id` (often empty).
  std::string Next(int32_t id);
  // Whether a stop string has appeared: generation should end.
  bool stopped() const { return stops_.stopped(); }
  // The rest of the text once generation has ended.
  std::string Finish();
  // Everything returned so far.
  const std::string& text() const { return text_; }

 private:
  Tokenizer::StreamDecoder decoder_;
  StopStringMatcher stops_;
  std::string text_;
};

}  // namespace bloom
