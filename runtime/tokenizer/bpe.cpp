#include "runtime/tokenizer/bpe.h"

#include <queue>

#include "absl/strings/str_cat.h"
#include "runtime/tokenizer/utf8.h"

namespace bloom::tokenizer {
namespace {

constexpr size_t kCacheCapacity = 10000;
constexpr size_t kMaxCachedWordBytes = 256;

// A candidate merge; the queue pops the lowest rank, then the leftmost
// position.
struct Candidate {
  uint32_t rank;
  size_t pos;
  int32_t new_id;
  bool operator>(const Candidate& o) const {
    return rank != o.rank ? rank > o.rank : pos > o.pos;
  }
};

// One symbol of the word being merged, in a linked list over the initial
// character positions; a symbol merged into its left neighbour gets len 0.
struct Symbol {
  int32_t id;
  int64_t prev;
  int64_t next;
  size_t len;
};

}  // namespace

absl::StatusOr<BpeModel> BpeModel::Create(
    absl::flat_hash_map<std::string, int32_t> vocab,
    const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
    absl::string_view label) {
  BpeModel model;
  model.vocab_ = std::move(vocab);
  model.options_ = std::move(options);
  if (model.options_.unk_token) {
    auto it = model.vocab_.find(*model.options_.unk_token);
    if (it == model.vocab_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          label, ": model.unk_token '", *model.options_.unk_token, "' is not in model.vocab"));
    }
    model.unk_id_ = it->second;
  }
  model.merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const auto l = model.vocab_.find(left);
    const auto r = model.vocab_.find(right);
    const auto joined = model.vocab_.find(absl::StrCat(left, right));
    const char* missing = l == model.vocab_.end()   ? "its left token"
                          : r == model.vocab_.end() ? "its right token"
                          : joined == model.vocab_.end() ? "the merged token"
                                                         : nullptr;
    if (missing != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(label, ": model.merges[", rank, "] ('",
                                                     left, "' + '", right, "'): ", missing,
                                                     " is not in model.vocab"));
    }
    model.merges_[PairKey(l->second, r->second)] =
        MergeResult{static_cast<uint32_t>(rank), joined->second};
  }
  return model;
}

std::optional<int32_t> BpeModel::TokenToId(absl::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

std::vector<int32_t> BpeModel::MergeWord(absl::string_view word) const {
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  // Pending unknown run: (id, byte length), flushed before the next known
  // character (or fused with the next unknown one when fuse_unk is set).
  std::optional<std::pair<int32_t, size_t>> unk;
  const auto add = [&symbols](int32_t id, size_t len) {
    const int64_t index = static_cast<int64_t>(symbols.size());
    symbols.push_back(Symbol{id, index - 1, index + 1, len});
  };
  size_t pos = 0;
  while (pos < word.size()) {
    const size_t start = pos;
    NextCodePoint(word, pos);
    const size_t len = pos - start;
    auto it = vocab_.find(word.substr(start, len));
    if (it != vocab_.end()) {
      if (unk) add(unk->first, unk->second);
      unk.reset();
      add(it->second, len);
    } else if (unk_id_) {
      if (unk && options_.fuse_unk) {
        unk->second += len;
      } else {
        if (unk) add(unk->first, unk->second);
        unk = std::make_pair(*unk_id_, len);
      }
    }
  }
  if (unk) add(unk->first, unk->second);
  if (symbols.empty()) return {};
  symbols.back().next = -1;

  const auto lookup = [this](int32_t left, int32_t right) -> const MergeResult* {
    auto it = merges_.find(PairKey(left, right));
    return it == merges_.end() ? nullptr : &it->second;
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  for (size_t i = 0; i + 1 < symbols.size(); ++i) {
    if (const MergeResult* m = lookup(symbols[i].id, symbols[i + 1].id)) {
      queue.push(Candidate{m->rank, i, m->new_id});
    }
  }
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& cur = symbols[top.pos];
    if (cur.len == 0 || cur.next == -1) continue;
    const size_t next_pos = static_cast<size_t>(cur.next);
    const Symbol right = symbols[next_pos];
    // Drop a stale candidate: the pair at `pos` has changed since it was
    // queued (tokenizers' test, by the merged token).
    const MergeResult* now = lookup(cur.id, right.id);
    if (now == nullptr || now->new_id != top.new_id) continue;

    cur.id = top.new_id;
    cur.len += right.len;
    cur.next = right.next;
    symbols[next_pos].len = 0;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = top.pos;

    if (cur.prev >= 0) {
      const size_t prev = static_cast<size_t>(cur.prev);
      if (const MergeResult* m = lookup(symbols[prev].id, cur.id)) {
        queue.push(Candidate{m->rank, prev, m->new_id});
      }
    }
    if (cur.next >= 0) {
      if (const MergeResult* m = lookup(cur.id, symbols[static_cast<size_t>(cur.next)].id)) {
        queue.push(Candidate{m->rank, top.pos, m->new_id});
      }
    }
  }
  std::vector<int32_t> ids;
  for (const Symbol& s : symbols) {
    if (s.len != 0) ids.push_back(s.id);
  }
  return ids;
}

void BpeModel::Tokenize(absl::string_view word, std::vector<int32_t>* ids) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (auto id = TokenToId(word)) {
      ids->push_back(*id);
      return;
    }
  }
  {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    auto it = cache_->words.find(word);
    if (it != cache_->words.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> merged = MergeWord(word);
  ids->insert(ids->end(), merged.begin(), merged.end());
  if (word.size() < kMaxCachedWordBytes) {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    if (cache_->words.size() < kCacheCapacity) {
      cache_->words.emplace(std::string(word), std::move(merged));
    }
  }
}

}  // namespace bloom::tokenizer
