// The KL-divergence base file: what `bloom-run --perplexity
// --kl-divergence-base=FILE` keeps of a reference run, so that a later
// `--kl-divergence=FILE` run (another dtype, backend or plan) can be
// compared with it token by token without the reference's logits.
//
// Layout (little-endian, docs/cli.md):
//   header, 64 bytes:
//     0  magic "BLOOMKLD"      8  u32 version (1)     12 u32 K (top-k)
//     16 u64 vocab             24 u32 N (--ctx)       28 u32 S (--stride; 0: halves)
//     32 u64 text tokens       40 u64 windows run (all, or --chunks)
//     48 u64 scored tokens     56 u64 FNV-1a 64 of the text's ids
//   then one record per scored token, in scoring order, 16 + 8K bytes:
//     i32 scored (next) token, f64 its log-probability, f32 log of the mass
//     outside the top K (-inf when none), K x i32 ids, K x f32 log-probs
//     (descending).
// The parser checks everything a record holds (ids in the vocabulary,
// finite non-positive log-probabilities in order, distinct ids) and that
// the size is exactly what the header promises, so a truncated or foreign
// file is refused with one line; the matcher compares the header with the
// run's own (vocabulary, N, S, windows, the text's tokens).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "runtime/serve/token_scoring.h"

namespace bloom::serve {

inline constexpr char kKlBaseMagic[] = "BLOOMKLD";  // 8 bytes, no terminator stored
inline constexpr uint32_t kKlBaseVersion = 1;
inline constexpr size_t kKlBaseHeaderBytes = 64;

struct KlBaseHeader {
  uint32_t top_k = 0;
  uint64_t vocab = 0;
  uint32_t ctx = 0;
  uint32_t stride = 0;
  uint64_t num_tokens = 0;
  uint64_t windows = 0;
  uint64_t scored = 0;
  uint64_t tokens_hash = 0;
};

size_t KlBaseRecordBytes(uint32_t top_k);

// FNV-1a 64 over the ids' 4-byte little-endian encodings.
uint64_t HashTokens(absl::Span<const int32_t> ids);

std::string EncodeKlBaseHeader(const KlBaseHeader& header);
// Appends one record; `token` has exactly header.top_k ids.
void AppendKlBaseRecord(const BaseToken& token, std::string& out);

// A parsed and validated base file.
class KlBase {
 public:
  const KlBaseHeader& header() const { return header_; }
  // The i-th scored token's record (i < header().scored).
  BaseToken Token(uint64_t i) const;

 private:
  friend absl::StatusOr<KlBase> ParseKlBase(absl::string_view bytes, const std::string& label);
  KlBaseHeader header_;
  std::vector<int32_t> targets_, ids_;
  std::vector<double> target_log_probs_;
  std::vector<float> log_rests_, log_probs_;
};

// Parses `bytes` (a whole file); errors are one line starting with `label`.
absl::StatusOr<KlBase> ParseKlBase(absl::string_view bytes, const std::string& label);

// Whether a base made with `base`'s settings can be compared with a run
// whose own header is `run` (top_k and scored aside); one line naming the
// first difference otherwise.
absl::Status CheckKlBaseMatches(const KlBaseHeader& base, const KlBaseHeader& run,
                                const std::string& label);

}  // namespace bloom::serve
