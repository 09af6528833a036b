#include "runtime/serve/kl_base_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "runtime/serve/perplexity_windows.h"

namespace bloom::serve {
namespace {

// Bounds that keep every size computation far from overflow; real files
// are well inside them (vocabularies of 250k, K of 32).
constexpr uint64_t kMaxVocab = uint64_t{1} << 31;
constexpr uint32_t kMaxTopK = 1 << 16;
constexpr uint32_t kMaxCtx = 1 << 24;
constexpr uint64_t kMaxTokens = uint64_t{1} << 40;

template <typename T>
void Put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // the project builds for little-endian hosts only
  out.append(bytes, sizeof(T));
}

template <typename T>
T Get(absl::string_view bytes, size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

bool IsLogProb(float v) { return std::isfinite(v) && v <= 0; }

absl::Status Bad(const std::string& label, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(label, ": ", problem));
}

absl::Status CheckHeader(const KlBaseHeader& h, const std::string& label) {
  if (h.vocab < 1 || h.vocab > kMaxVocab)
    return Bad(label, absl::StrCat("vocab ", h.vocab, " is out of range"));
  if (h.top_k < 1 || h.top_k > kMaxTopK || h.top_k > h.vocab) {
    return Bad(label, absl::StrCat("top-k ", h.top_k, " is not in [1, min(", kMaxTopK, ", vocab ",
                                   h.vocab, ")]"));
  }
  if (h.ctx > kMaxCtx || h.num_tokens > kMaxTokens) {
    return Bad(label,
               absl::StrCat("ctx ", h.ctx, " or token count ", h.num_tokens, " is out of range"));
  }
  absl::StatusOr<int64_t> windows =
      WindowCount(static_cast<int64_t>(h.num_tokens), static_cast<int32_t>(h.ctx),
                  h.stride > kMaxCtx ? -1 : static_cast<int32_t>(h.stride));
  if (!windows.ok()) {
    return Bad(label,
               absl::StrCat("the header's windows are invalid: ", windows.status().message()));
  }
  if (h.windows < 1 || h.windows > static_cast<uint64_t>(*windows)) {
    return Bad(label, absl::StrCat("the header says ", h.windows, " windows, but ", h.num_tokens,
                                   " tokens in windows of ctx ", h.ctx, " stride ", h.stride,
                                   " make ", *windows));
  }
  const uint64_t expected =
      h.windows * static_cast<uint64_t>(
                      ScoredPerWindow(static_cast<int32_t>(h.ctx), static_cast<int32_t>(h.stride)));
  if (h.scored != expected) {
    return Bad(label,
               absl::StrCat("the header says ", h.scored, " scored tokens, but ", h.windows,
                            " windows of ctx ", h.ctx, " stride ", h.stride, " score ", expected));
  }
  return absl::OkStatus();
}

}  // namespace

size_t KlBaseRecordBytes(uint32_t top_k) { return 16 + 8 * static_cast<size_t>(top_k); }

uint64_t HashTokens(absl::Span<const int32_t> ids) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (int32_t id : ids) {
    const uint32_t v = static_cast<uint32_t>(id);
    for (int shift = 0; shift < 32; shift += 8) {
      hash ^= (v >> shift) & 0xff;
      hash *= 0x100000001b3ull;
    }
  }
  return hash;
}

std::string EncodeKlBaseHeader(const KlBaseHeader& h) {
  std::string out(kKlBaseMagic, 8);
  Put(out, kKlBaseVersion);
  Put(out, h.top_k);
  Put(out, h.vocab);
  Put(out, h.ctx);
  Put(out, h.stride);
  Put(out, h.num_tokens);
  Put(out, h.windows);
  Put(out, h.scored);
  Put(out, h.tokens_hash);
  return out;
}

void AppendKlBaseRecord(const BaseToken& token, std::string& out) {
  Put(out, token.target);
  Put(out, token.target_log_prob);
  Put(out, token.log_rest);
  out.append(reinterpret_cast<const char*>(token.ids.data()), token.ids.size() * sizeof(int32_t));
  out.append(reinterpret_cast<const char*>(token.log_probs.data()),
             token.log_probs.size() * sizeof(float));
}

BaseToken KlBase::Token(uint64_t i) const {
  const size_t k = header_.top_k;
  BaseToken t;
  t.target = targets_[i];
  t.target_log_prob = target_log_probs_[i];
  t.log_rest = log_rests_[i];
  t.ids = absl::MakeConstSpan(ids_).subspan(i * k, k);
  t.log_probs = absl::MakeConstSpan(log_probs_).subspan(i * k, k);
  return t;
}

absl::StatusOr<KlBase> ParseKlBase(absl::string_view bytes, const std::string& label) {
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kKlBaseMagic, 8) != 0) {
    return Bad(label,
               "not a KL-divergence base file (no BLOOMKLD magic; write one with "
               "--kl-divergence-base)");
  }
  if (bytes.size() < kKlBaseHeaderBytes) {
    return Bad(label, absl::StrCat("truncated: ", bytes.size(), " bytes, shorter than the ",
                                   kKlBaseHeaderBytes, "-byte header"));
  }
  const uint32_t version = Get<uint32_t>(bytes, 8);
  if (version != kKlBaseVersion) {
    return Bad(label, absl::StrCat("format version ", version, ", this bloom-run reads version ",
                                   kKlBaseVersion));
  }
  KlBase base;
  KlBaseHeader& h = base.header_;
  h.top_k = Get<uint32_t>(bytes, 12);
  h.vocab = Get<uint64_t>(bytes, 16);
  h.ctx = Get<uint32_t>(bytes, 24);
  h.stride = Get<uint32_t>(bytes, 28);
  h.num_tokens = Get<uint64_t>(bytes, 32);
  h.windows = Get<uint64_t>(bytes, 40);
  h.scored = Get<uint64_t>(bytes, 48);
  h.tokens_hash = Get<uint64_t>(bytes, 56);
  if (absl::Status s = CheckHeader(h, label); !s.ok()) return s;

  const size_t record = KlBaseRecordBytes(h.top_k);
  const uint64_t body = bytes.size() - kKlBaseHeaderBytes;
  if (body < h.scored * record) {
    return Bad(label, absl::StrCat("truncated: ", bytes.size(), " bytes, the header promises ",
                                   kKlBaseHeaderBytes + h.scored * record));
  }
  if (body != h.scored * record) {
    return Bad(label, absl::StrCat(body - h.scored * record,
                                   " bytes after the last record (the header promises ",
                                   kKlBaseHeaderBytes + h.scored * record, ")"));
  }
  const size_t k = h.top_k;
  base.targets_.resize(h.scored);
  base.target_log_probs_.resize(h.scored);
  base.log_rests_.resize(h.scored);
  base.ids_.resize(h.scored * k);
  base.log_probs_.resize(h.scored * k);
  std::vector<int32_t> sorted_ids(k);
  for (uint64_t i = 0; i < h.scored; ++i) {
    const size_t at = kKlBaseHeaderBytes + i * record;
    const std::string where = absl::StrCat("scored token ", i);
    const int32_t target = Get<int32_t>(bytes, at);
    const double target_log_prob = Get<double>(bytes, at + 4);
    const float log_rest = Get<float>(bytes, at + 12);
    if (target < 0 || static_cast<uint64_t>(target) >= h.vocab) {
      return Bad(label, absl::StrCat(where, ": token id ", target, " is outside the vocabulary"));
    }
    if (!(std::isfinite(target_log_prob) && target_log_prob <= 0) || std::isnan(log_rest) ||
        log_rest > 0) {
      return Bad(label, absl::StrCat(where, ": a log-probability is not finite and <= 0"));
    }
    std::memcpy(&base.ids_[i * k], bytes.data() + at + 16, k * sizeof(int32_t));
    std::memcpy(&base.log_probs_[i * k], bytes.data() + at + 16 + 4 * k, k * sizeof(float));
    for (size_t j = 0; j < k; ++j) {
      const int32_t id = base.ids_[i * k + j];
      const float lp = base.log_probs_[i * k + j];
      if (id < 0 || static_cast<uint64_t>(id) >= h.vocab) {
        return Bad(label, absl::StrCat(where, ": top id ", id, " is outside the vocabulary"));
      }
      if (!IsLogProb(lp) || (j > 0 && lp > base.log_probs_[i * k + j - 1])) {
        return Bad(label, absl::StrCat(where,
                                       ": top log-probabilities are not finite, <= 0 and "
                                       "descending"));
      }
    }
    std::copy_n(&base.ids_[i * k], k, sorted_ids.begin());
    std::sort(sorted_ids.begin(), sorted_ids.end());
    if (std::adjacent_find(sorted_ids.begin(), sorted_ids.end()) != sorted_ids.end()) {
      return Bad(label, absl::StrCat(where, ": a top id appears twice"));
    }
    base.targets_[i] = target;
    base.target_log_probs_[i] = target_log_prob;
    base.log_rests_[i] = log_rest;
  }
  return base;
}

absl::Status CheckKlBaseMatches(const KlBaseHeader& base, const KlBaseHeader& run,
                                const std::string& label) {
  // The same text, --ctx and --stride on models of one vocabulary score
  // the same tokens in the same order; anything else compares nothing.
  auto differ = [&](absl::string_view what, uint64_t in_base, uint64_t in_run) {
    return Bad(label, absl::StrCat("the base was made with ", what, " ", in_base, ", this run has ",
                                   in_run));
  };
  if (base.vocab != run.vocab) return differ("a vocabulary of", base.vocab, run.vocab);
  if (base.ctx != run.ctx) return differ("--ctx", base.ctx, run.ctx);
  if (base.stride != run.stride) return differ("--stride (0: halves)", base.stride, run.stride);
  if (base.num_tokens != run.num_tokens) {
    return differ("a text of tokens, count", base.num_tokens, run.num_tokens);
  }
  if (base.windows != run.windows) return differ("windows (--chunks)", base.windows, run.windows);
  if (base.tokens_hash != run.tokens_hash) {
    return Bad(label, "the base was made from another text: its token ids differ from this run's");
  }
  return absl::OkStatus();
}

}  // namespace bloom::serve
