#include "runtime/tokenizer/added_tokens.h"

#include <algorithm>

#include "runtime/tokenizer/pre_tokenizer.h"
#include "runtime/tokenizer/utf8.h"

namespace bloom::tokenizer {
namespace {

// Start of the White_Space run that ends `text` (text.size() if none).
size_t TrailingWhiteSpaceStart(absl::string_view text) {
  size_t run_start = absl::string_view::npos;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t at = pos;
    if (!IsWhiteSpace(NextCodePoint(text, pos))) {
      run_start = absl::string_view::npos;
    } else if (run_start == absl::string_view::npos) {
      run_start = at;
    }
  }
  return run_start == absl::string_view::npos ? text.size() : run_start;
}

// Length of the White_Space run that starts `text`.
size_t LeadingWhiteSpaceLength(absl::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t next = pos;
    if (!IsWhiteSpace(NextCodePoint(text, next))) break;
    pos = next;
  }
  return pos;
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens)
    : tokens_(std::move(tokens)) {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i].content.empty()) continue;  // never matches, as in tokenizers
    Pass& pass = tokens_[i].normalized ? normalized_pass_ : raw_pass_;
    pass.by_first_byte[static_cast<uint8_t>(tokens_[i].content[0])].push_back(i);
    pass.empty = false;
  }
  for (Pass* pass : {&raw_pass_, &normalized_pass_}) {
    for (auto& bucket : pass->by_first_byte) {
      std::sort(bucket.begin(), bucket.end(), [this](size_t a, size_t b) {
        const size_t la = tokens_[a].content.size(), lb = tokens_[b].content.size();
        return la != lb ? la > lb : a < b;
      });
    }
  }
}

void AddedTokenMatcher::SplitPass(const Pass& pass, absl::string_view text,
                                  std::vector<AddedTokenSegment>* out) const {
  size_t done = 0;  // text before this is already in `out`
  size_t pos = 0;
  while (pos < text.size()) {
    const AddedToken* hit = nullptr;
    if (!pass.empty) {
      for (size_t i : pass.by_first_byte[static_cast<uint8_t>(text[pos])]) {
        const std::string& c = tokens_[i].content;
        if (text.compare(pos, c.size(), c) == 0) {
          hit = &tokens_[i];
          break;
        }
      }
    }
    if (hit == nullptr) {
      ++pos;  // contents are valid UTF-8, so they only match at lead bytes
      continue;
    }
    size_t start = pos;
    size_t stop = pos + hit->content.size();
    if (hit->lstrip) {
      // Only the text after the previous match can be stripped.
      start = done + TrailingWhiteSpaceStart(text.substr(done, start - done));
    }
    if (hit->rstrip) stop += LeadingWhiteSpaceLength(text.substr(stop));
    if (done < start) out->push_back({text.substr(done, start - done), -1});
    out->push_back({text.substr(start, stop - start), hit->id});
    done = pos = stop;
  }
  if (done < text.size()) out->push_back({text.substr(done), -1});
}

std::vector<AddedTokenSegment> AddedTokenMatcher::Split(absl::string_view text) const {
  std::vector<AddedTokenSegment> first;
  SplitPass(raw_pass_, text, &first);
  if (normalized_pass_.empty) return first;
  std::vector<AddedTokenSegment> second;
  for (const AddedTokenSegment& seg : first) {
    if (seg.id >= 0) {
      second.push_back(seg);
    } else {
      SplitPass(normalized_pass_, seg.text, &second);
    }
  }
  return second;
}

}  // namespace bloom::tokenizer
