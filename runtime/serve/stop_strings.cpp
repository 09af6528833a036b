#include "runtime/serve/stop_strings.h"

#include <algorithm>

namespace bloom {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stop_strings) {
  for (std::string& s : stop_strings) {
    if (!s.empty()) stops_.push_back(std::move(s));
  }
}

std::string StopStringMatcher::Push(absl::string_view text) {
  if (stopped_) return "";
  held_.append(text.data(), text.size());
  // Held text never contains a whole stop string, so the leftmost match in
  // held_ is the leftmost in the whole text.
  size_t first = std::string::npos;
  for (const std::string& stop : stops_) first = std::min(first, held_.find(stop));
  if (first != std::string::npos) {
    stopped_ = true;
    std::string released = held_.substr(0, first);
    held_.clear();
    return released;
  }
  size_t keep = 0;  // length of the longest tail that may begin a stop string
  for (const std::string& stop : stops_) {
    for (size_t n = std::min(stop.size() - 1, held_.size()); n > keep; --n) {
      if (absl::string_view(held_).substr(held_.size() - n) ==
          absl::string_view(stop).substr(0, n)) {
        keep = n;
        break;
      }
    }
  }
  std::string released = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return released;
}

std::string StopStringMatcher::Flush() {
  std::string released;
  released.swap(held_);
  return released;
}

}  // namespace bloom
