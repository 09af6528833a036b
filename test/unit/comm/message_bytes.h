// Test messages for the communicators' Send/Recv tests (threads and MPI):
// bytes that depend on who sent the message and which one it was, so that a
// message delivered out of order or to the wrong pair is caught.
#pragma once

#include <cstddef>
#include <vector>

namespace bloom {

inline std::vector<char> MessageBytes(int from, int index, size_t bytes) {
  // push_back rather than indexing: GCC 12 warns wrongly (stringop-overflow)
  // about an indexed loop over a fresh vector once inlined.
  std::vector<char> m;
  m.reserve(bytes);
  for (size_t i = 0; i < bytes; ++i) m.push_back(static_cast<char>(from * 31 + index * 7 + i));
  return m;
}

}  // namespace bloom
