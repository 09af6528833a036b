// BPE merging on hand-worked vocabularies, and against a naive reference
// (repeatedly merge the lowest-ranked adjacent pair, leftmost first) on
// random merge tables and words.
#include "runtime/tokenizer/bpe.h"

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace bloom::tokenizer {
namespace {

using Merges = std::vector<std::pair<std::string, std::string>>;

// Vocab of the given tokens, numbered in order.
absl::flat_hash_map<std::string, int32_t> Vocab(const std::vector<std::string>& tokens) {
  absl::flat_hash_map<std::string, int32_t> vocab;
  for (const std::string& t : tokens) vocab.emplace(t, static_cast<int32_t>(vocab.size()));
  return vocab;
}

std::vector<int32_t> Bpe(const BpeModel& model, const std::string& word) {
  std::vector<int32_t> ids;
  model.Tokenize(word, &ids);
  return ids;
}

class HandWorkedBpeTest : public ::testing::Test {
 protected:
  // ids:           0    1    2    3    4     5     6     7      8      9
  const std::vector<std::string> tokens_ = {"a", "b", "c", "d", "ab", "bc", "cd", "abc",
                                            "abcd", "<unk>"};
  // Ranks: "b c" beats "a b" beats "a bc" beats "c d" beats "ab cd".
  const Merges merges_ = {{"b", "c"}, {"a", "b"}, {"a", "bc"}, {"c", "d"}, {"ab", "cd"}};
};

TEST_F(HandWorkedBpeTest, LowestRankMergesFirst) {
  auto model = BpeModel::Create(Vocab(tokens_), merges_, {}, "test");
  ASSERT_TRUE(model.ok()) << model.status();
  // a b c d: "b c" (rank 0) first -> a bc d; then "a bc" -> abc d. "ab cd"
  // never forms, although "abcd" is in the vocab.
  EXPECT_EQ(Bpe(*model, "abcd"), (std::vector<int32_t>{7, 3}));
  // b c d: "b c" outranks "c d".
  EXPECT_EQ(Bpe(*model, "bcd"), (std::vector<int32_t>{5, 3}));
  // c d: only "c d" applies.
  EXPECT_EQ(Bpe(*model, "cd"), (std::vector<int32_t>{6}));
  // Equal ranks: leftmost first; a b a b -> ab ab.
  EXPECT_EQ(Bpe(*model, "abab"), (std::vector<int32_t>{4, 4}));
  // a b b c: "b c" at position 2 first, then "a b" -> ab bc.
  EXPECT_EQ(Bpe(*model, "abbc"), (std::vector<int32_t>{4, 5}));
  // Cached second call gives the same.
  EXPECT_EQ(Bpe(*model, "abcd"), (std::vector<int32_t>{7, 3}));
}

TEST_F(HandWorkedBpeTest, UnknownCharacters) {
  // Without unk_token, a character outside the vocab is dropped.
  auto plain = BpeModel::Create(Vocab(tokens_), merges_, {}, "test");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(Bpe(*plain, "axxb"), (std::vector<int32_t>{4}));
  // With one, each unknown character is <unk>; fuse_unk joins runs.
  BpeOptions unk;
  unk.unk_token = "<unk>";
  auto with_unk = BpeModel::Create(Vocab(tokens_), merges_, unk, "test");
  ASSERT_TRUE(with_unk.ok());
  EXPECT_EQ(Bpe(*with_unk, "axxb"), (std::vector<int32_t>{0, 9, 9, 1}));
  unk.fuse_unk = true;
  auto fused = BpeModel::Create(Vocab(tokens_), merges_, unk, "test");
  ASSERT_TRUE(fused.ok());
  EXPECT_EQ(Bpe(*fused, "axxb"), (std::vector<int32_t>{0, 9, 1}));
}

TEST_F(HandWorkedBpeTest, IgnoreMergesTakesWholeWords) {
  BpeOptions options;
  options.ignore_merges = true;
  auto model = BpeModel::Create(Vocab(tokens_), merges_, options, "test");
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(Bpe(*model, "abcd"), (std::vector<int32_t>{8}));
  EXPECT_EQ(Bpe(*model, "bcd"), (std::vector<int32_t>{5, 3}));
}

TEST_F(HandWorkedBpeTest, DuplicatePairKeepsItsLaterRank) {
  // "a b" is listed at ranks 1 and 3: the later rank counts.
  Merges merges = {{"c", "d"}, {"a", "b"}, {"b", "c"}, {"a", "b"}};
  auto model = BpeModel::Create(Vocab(tokens_), merges, {}, "test");
  ASSERT_TRUE(model.ok());
  // a b c: "a b" has rank 3 (its later listing), "b c" rank 2 -> a bc.
  EXPECT_EQ(Bpe(*model, "abc"), (std::vector<int32_t>{0, 5}));
}

TEST_F(HandWorkedBpeTest, RejectsMergesOutsideTheVocab) {
  auto bad_left = BpeModel::Create(Vocab(tokens_), {{"x", "b"}}, {}, "tok.json");
  EXPECT_EQ(bad_left.status().message(),
            "tok.json: model.merges[0] ('x' + 'b'): its left token is not in model.vocab");
  auto bad_result = BpeModel::Create(Vocab(tokens_), {{"a", "b"}, {"d", "a"}}, {}, "tok.json");
  EXPECT_EQ(bad_result.status().message(),
            "tok.json: model.merges[1] ('d' + 'a'): the merged token is not in model.vocab");
  BpeOptions unk;
  unk.unk_token = "<missing>";
  auto bad_unk = BpeModel::Create(Vocab(tokens_), merges_, unk, "tok.json");
  EXPECT_EQ(bad_unk.status().message(),
            "tok.json: model.unk_token '<missing>' is not in model.vocab");
}

// The reference: symbols as strings, merged one pair at a time.
std::vector<std::string> NaiveBpe(const std::string& word, const Merges& merges) {
  std::map<std::pair<std::string, std::string>, size_t> rank;
  for (size_t i = 0; i < merges.size(); ++i) rank[merges[i]] = i;
  std::vector<std::string> symbols;
  for (char c : word) symbols.emplace_back(1, c);
  while (true) {
    size_t best = symbols.size();
    size_t best_rank = merges.size();
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto it = rank.find({symbols[i], symbols[i + 1]});
      if (it != rank.end() && it->second < best_rank) {
        best_rank = it->second;
        best = i;
      }
    }
    if (best == symbols.size()) return symbols;
    symbols[best] += symbols[best + 1];
    symbols.erase(symbols.begin() + best + 1);
  }
}

TEST(BpeTest, MatchesNaiveReferenceOnRandomTables) {
  std::mt19937 rng(20240611);
  for (int table = 0; table < 50; ++table) {
    std::vector<std::string> tokens = {"a", "b", "c", "d"};
    Merges merges;
    std::map<std::pair<std::string, std::string>, bool> used;
    while (merges.size() < 40) {
      const std::string& l = tokens[rng() % tokens.size()];
      const std::string& r = tokens[rng() % tokens.size()];
      if (l.size() + r.size() > 8 || used[{l, r}]) continue;
      used[{l, r}] = true;
      merges.emplace_back(l, r);
      // Two pairs may produce the same token (e.g. "a bc" and "ab c").
      if (std::find(tokens.begin(), tokens.end(), l + r) == tokens.end()) {
        tokens.push_back(l + r);
      }
    }
    auto vocab = Vocab(tokens);
    auto model = BpeModel::Create(vocab, merges, {}, "random");
    ASSERT_TRUE(model.ok()) << model.status();
    for (int w = 0; w < 40; ++w) {
      std::string word;
      const int len = 1 + static_cast<int>(rng() % 14);
      for (int i = 0; i < len; ++i) word.push_back(static_cast<char>('a' + rng() % 4));
      std::vector<int32_t> expected;
      for (const std::string& s : NaiveBpe(word, merges)) expected.push_back(vocab.at(s));
      EXPECT_EQ(Bpe(*model, word), expected) << "table " << table << " word " << word;
    }
  }
}

}  // namespace
}  // namespace bloom::tokenizer
