// libFuzzer target: model.safetensors.index.json (ParseCheckpointIndex) on
// arbitrary bytes. Beyond "no crash, no sanitizer report", it checks the
// promises: an accepted index maps at least one tensor, every shard is a
// plain file name inside the checkpoint directory, and a rejection is one
// line naming the file.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "runtime/checkpoint/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto index = bloom::ParseCheckpointIndex(text, "fuzz.index.json");
  if (!index.ok()) {
    const absl::string_view message = index.status().message();
    if (message.find('\n') != message.npos) __builtin_trap();
    if (message.substr(0, 17) != "fuzz.index.json: ") __builtin_trap();
    return 0;
  }
  if (index->empty()) __builtin_trap();
  for (const auto& [tensor, shard] : *index) {
    if (shard.empty() || shard == "." || shard == ".." || shard.find('/') != shard.npos ||
        shard.find('\0') != shard.npos) {
      __builtin_trap();
    }
  }
  return 0;
}
