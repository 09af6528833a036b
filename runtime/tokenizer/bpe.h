// The BPE model of a tokenizer.json: a vocabulary of byte-level strings and
// a ranked list of merges, applied to one pre-tokenized word at a time.
//
// Merging follows tokenizers' Word::merge_all: a min-queue of (rank,
// position) candidates, where a popped candidate is dropped when the pair
// now at its position no longer merges to the candidate's token. Since a
// symbol only ever grows, that pair's concatenation changes whenever either
// side changes, so this is exactly "repeatedly merge the lowest-ranked
// adjacent pair, leftmost first" (what bpe_test checks against). Results are
// cached per word, since running text repeats words.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace bloom::tokenizer {

struct BpeOptions {
  // Token for characters missing from the vocabulary; without one they are
  // dropped, as tokenizers does. Byte-level vocabularies hold all 256
  // byte characters, so neither happens with BLOOM's files.
  std::optional<std::string> unk_token;
  bool fuse_unk = false;       // consecutive unknowns become one unk token
  bool ignore_merges = false;  // a word found whole in the vocab is one token
};

class BpeModel {
 public:
  // `vocab` maps token strings to ids; `merges[i]` is the pair of rank i.
  // A pair listed twice keeps its later rank (as tokenizers' map insert
  // does). Errors (merge of unknown tokens, merge result not in the vocab,
  // unk_token not in the vocab) are one line, prefixed by `label`.
  static absl::StatusOr<BpeModel> Create(
      absl::flat_hash_map<std::string, int32_t> vocab,
      const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
      absl::string_view label);

  // Appends the ids of `word` (a non-empty byte-level string) to `ids`.
  // Thread-safe.
  void Tokenize(absl::string_view word, std::vector<int32_t>* ids) const;

  std::optional<int32_t> TokenToId(absl::string_view token) const;

 private:
  struct MergeResult {
    uint32_t rank;
    int32_t new_id;
  };
  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }

  std::vector<int32_t> MergeWord(absl::string_view word) const;

  absl::flat_hash_map<std::string, int32_t> vocab_;
  absl::flat_hash_map<uint64_t, MergeResult> merges_;
  BpeOptions options_;
  std::optional<int32_t> unk_id_;

  // Word -> ids, bounded like tokenizers' (10000 words of < 256 bytes;
  // once full, new words are no longer cached).
  struct Cache {
    std::mutex mutex;
    absl::flat_hash_map<std::string, std::vector<int32_t>> words;
  };
  std::unique_ptr<Cache> cache_ = std::make_unique<Cache>();
};

}  // namespace bloom::tokenizer
