// Per-request generation settings that a front end applies where a request
// leaves them out: bloom-run fills them from its flags, and JSONL requests
// (jsonl_batch.h) start from them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/serve/sampler.h"

namespace bloom::serve {

struct GenerationDefaults {
  SamplingParams sampling;
  // Whether do_sample was given; if not, giving a warper setting
  // (temperature, top-k, top-p, typical-p) turns sampling on.
  bool do_sample_given = false;
  int32_t max_new_tokens = 16;
  int32_t min_new_tokens = 0;
  bool stop_at_eos = true;
  std::vector<std::string> stop_strings;
};

}  // namespace bloom::serve
