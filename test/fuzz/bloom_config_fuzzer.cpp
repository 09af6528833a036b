// libFuzzer target: ParseBloomConfig on arbitrary text. An accepted config
// must satisfy what the parser validates (positive sizes, whole heads,
// positive finite epsilon, token ids inside the vocabulary).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "models/bloom/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = bloom::model::ParseBloomConfig(text, "fuzz/config.json");
  if (!config.ok()) {
    if (config.status().message().find('\n') != std::string_view::npos) __builtin_trap();
    return 0;
  }
  const auto& c = *config;
  if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.num_heads <= 0 || c.num_layers <= 0) {
    __builtin_trap();
  }
  if (c.hidden_size % c.num_heads != 0 || c.head_dim() <= 0) __builtin_trap();
  if (!(c.layer_norm_epsilon > 0) || !std::isfinite(c.layer_norm_epsilon)) __builtin_trap();
  for (int64_t id : {c.bos_token_id, c.eos_token_id, c.pad_token_id}) {
    if (id < 0 || id >= c.vocab_size) __builtin_trap();
  }
  return 0;
}
