#include "runtime/serve/text_stream.h"

namespace bloom {

std::string TextStream::Next(int32_t id) {
  if (stops_.stopped()) return "";
  std::string released = stops_.Push(decoder_.Next(id));
  text_ += released;
  return released;
}

std::string TextStream::Finish() {
  std::string released;
  if (!stops_.stopped()) {
    // An unfinished character (U+FFFD) may still complete a stop string.
    released = stops_.Push(decoder_.Finish());
    released += stops_.Flush();
  }
  text_ += released;
  return released;
}

}  // namespace bloom
