// libFuzzer target: ParseSafetensorsHeader on arbitrary bytes. Beyond "no
// crash, no sanitizer report", it checks the parser's promises: an accepted
// header only describes bytes inside the input, with sizes that match the
// shapes, a generated file (generated_weights.h) describes every tensor's
// values and small ones generate, and a rejection is one line.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/checkpoint/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto header = bloom::ParseSafetensorsHeader(data, size, "fuzz.safetensors");
  if (!header.ok()) {
    const auto message = header.status().message();
    if (message.find('\n') != message.npos) __builtin_trap();
    if (message.substr(0, 18) != "fuzz.safetensors: ") __builtin_trap();
    return 0;
  }
  if (header->data_offset < 8 || header->data_offset > size) __builtin_trap();
  const uint64_t data_size = size - header->data_offset;
  for (const auto& [name, tensor] : header->tensors) {
    if (tensor.begin > tensor.end || tensor.end > data_size) __builtin_trap();
    const uint64_t bytes =
        bloom::StorageBytes(tensor.dtype, static_cast<uint64_t>(tensor.NumElements()));
    if (bytes != tensor.end - tensor.begin) __builtin_trap();
    // Touch the first and last byte: ASan flags any read outside the input.
    if (bytes > 0) {
      volatile uint8_t first = data[header->data_offset + tensor.begin];
      volatile uint8_t last = data[header->data_offset + tensor.end - 1];
      (void)first;
      (void)last;
    }
  }
  if (header->generated) {
    for (const auto& [name, tensor] : header->tensors) {
      auto found = header->generated->tensors.find(name);
      if (found == header->generated->tensors.end()) __builtin_trap();
      if (tensor.NumElements() > 4096) continue;
      auto slice = bloom::MakeTensorSlice(tensor.shape, -1, 0, 0, name);
      if (!slice.ok()) __builtin_trap();
      std::vector<float> values(tensor.NumElements());
      // Refused only for a dtype that is not a float.
      (void)bloom::GenerateTensorSliceAsFloat32(found->second, tensor.dtype, *slice,
                                                absl::MakeSpan(values), name);
    }
  }
  return 0;
}
