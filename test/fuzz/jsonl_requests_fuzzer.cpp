// libFuzzer target: bloom-run's --input JSONL requests
// (runtime/serve/jsonl_batch.h) on arbitrary text, then their preparation
// for a plan (token ids inside the vocabulary, min_length, the fit to
// max_seq_len, with and without truncation). Beyond "no crash, no
// sanitizer report", it checks the promises: a rejection is one line
// naming the file, an accepted request has a prompt of valid ids that fits
// the plan with its settings in range.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/serve/jsonl_batch.h"

namespace {

constexpr int64_t kVocab = 1000;
constexpr int32_t kMaxSeqLen = 64;

bool OneLineNamingTheFile(const absl::Status& status) {
  const absl::string_view message = status.message();
  return message.find('\n') == message.npos && message.substr(0, 11) == "fuzz.jsonl:";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  bloom::serve::GenerationDefaults defaults;
  defaults.max_new_tokens = 8;
  auto items = bloom::serve::ParseJsonlRequests(text, "fuzz.jsonl", defaults);
  if (!items.ok()) {
    // "fuzz.jsonl: no requests in the file" has no line number.
    const absl::string_view message = items.status().message();
    if (message.find('\n') != message.npos || message.substr(0, 10) != "fuzz.jsonl") {
      __builtin_trap();
    }
    return 0;
  }
  // Text prompts and stop strings need a tokenizer; without one, only
  // token-id requests are prepared (bloom-run refuses the others first).
  if (bloom::serve::NeedsTokenizer(*items)) return 0;
  const bool truncate = size % 2 == 0;
  absl::Status prepared = bloom::serve::PrepareRequests(*items, "fuzz.jsonl", nullptr, kVocab,
                                                      kMaxSeqLen, /*eos_token_id=*/2, truncate);
  if (!prepared.ok()) {
    if (!OneLineNamingTheFile(prepared)) __builtin_trap();
    return 0;
  }
  for (const bloom::serve::BatchItem& item : *items) {
    const auto& r = item.request;
    if (r.prompt.empty() || r.max_new_tokens < 1 || r.min_new_tokens < 0 ||
        r.min_new_tokens > r.max_new_tokens) {
      __builtin_trap();
    }
    if (static_cast<int64_t>(r.prompt.size()) + r.max_new_tokens - 1 > kMaxSeqLen) {
      __builtin_trap();
    }
    for (int32_t id : r.prompt) {
      if (id < 0 || id >= kVocab) __builtin_trap();
    }
  }
  return 0;
}
