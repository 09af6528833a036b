// libFuzzer target: the KL-divergence base file (runtime/serve/kl_base_file.h)
// that bloom-run --kl-divergence reads, on arbitrary bytes. Beyond "no
// crash, no sanitizer report", it checks the promises: a rejection is one
// line naming the file; an accepted file's records hold ids inside the
// vocabulary and descending finite log-probabilities, and writing it back
// gives exactly the bytes read.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "runtime/serve/kl_base_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<bloom::serve::KlBase> base = bloom::serve::ParseKlBase(bytes, "fuzz.kld");
  if (!base.ok()) {
    const absl::string_view message = base.status().message();
    if (message.find('\n') != message.npos || message.substr(0, 10) != "fuzz.kld: ") std::abort();
    return 0;
  }
  const bloom::serve::KlBaseHeader& h = base->header();
  std::string again = bloom::serve::EncodeKlBaseHeader(h);
  for (uint64_t i = 0; i < h.scored; ++i) {
    const bloom::serve::BaseToken t = base->Token(i);
    if (t.ids.size() != h.top_k || t.target < 0 || static_cast<uint64_t>(t.target) >= h.vocab) {
      std::abort();
    }
    for (size_t j = 0; j < t.ids.size(); ++j) {
      if (t.ids[j] < 0 || static_cast<uint64_t>(t.ids[j]) >= h.vocab) std::abort();
      if (!std::isfinite(t.log_probs[j]) || t.log_probs[j] > 0) std::abort();
      if (j > 0 && t.log_probs[j] > t.log_probs[j - 1]) std::abort();
    }
    bloom::serve::AppendKlBaseRecord(t, again);
  }
  if (again != bytes) std::abort();
  return 0;
}
