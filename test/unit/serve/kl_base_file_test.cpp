// The KL-divergence base file: a written file parses back to the same
// records, and every kind of damage (truncation, extra bytes, a foreign
// magic or version, a header whose windows do not add up, records out of
// the vocabulary, out of order or duplicated) and every mismatch with a run
// is refused with one line naming the file.
#include "runtime/serve/kl_base_file.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace bloom::serve {
namespace {

// 8 tokens in windows of N = 4 (halves): 2 windows, 1 scored token each.
KlBaseHeader SmallHeader() {
  KlBaseHeader h;
  h.top_k = 2;
  h.vocab = 10;
  h.ctx = 4;
  h.stride = 0;
  h.num_tokens = 8;
  h.windows = 2;
  h.scored = 2;
  h.tokens_hash = HashTokens(std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7, 8});
  return h;
}

const std::vector<int32_t> kIds[2] = {{7, 2}, {0, 9}};
const std::vector<float> kLogProbs[2] = {{-0.5f, -1.5f}, {-0.25f, -0.25f}};

std::string SmallFile() {
  std::string bytes = EncodeKlBaseHeader(SmallHeader());
  for (int i = 0; i < 2; ++i) {
    BaseToken t;
    t.target = 3 + i;
    t.target_log_prob = -2.0 - i;
    t.log_rest = i == 0 ? -1.0f : -std::numeric_limits<float>::infinity();
    t.ids = kIds[i];
    t.log_probs = kLogProbs[i];
    AppendKlBaseRecord(t, bytes);
  }
  return bytes;
}

// The error of parsing `bytes`, or "" when it parses.
std::string ErrorOf(const std::string& bytes) {
  absl::StatusOr<KlBase> base = ParseKlBase(bytes, "base.kld");
  return base.ok() ? "" : std::string(base.status().message());
}

template <typename T>
std::string With(std::string bytes, size_t offset, T value) {
  std::memcpy(&bytes[offset], &value, sizeof(T));
  return bytes;
}

TEST(KlBaseFileTest, RoundTrips) {
  const std::string bytes = SmallFile();
  ASSERT_EQ(bytes.size(), kKlBaseHeaderBytes + 2 * (16 + 8 * 2));
  absl::StatusOr<KlBase> base = ParseKlBase(bytes, "base.kld");
  ASSERT_TRUE(base.ok()) << base.status();
  const KlBaseHeader& h = base->header();
  EXPECT_EQ(h.top_k, 2u);
  EXPECT_EQ(h.vocab, 10u);
  EXPECT_EQ(h.ctx, 4u);
  EXPECT_EQ(h.num_tokens, 8u);
  EXPECT_EQ(h.windows, 2u);
  EXPECT_EQ(h.scored, 2u);
  EXPECT_EQ(h.tokens_hash, SmallHeader().tokens_hash);
  for (int i = 0; i < 2; ++i) {
    const BaseToken t = base->Token(i);
    EXPECT_EQ(t.target, 3 + i);
    EXPECT_EQ(t.target_log_prob, -2.0 - i);
    EXPECT_EQ(std::vector<int32_t>(t.ids.begin(), t.ids.end()), kIds[i]);
    EXPECT_EQ(std::vector<float>(t.log_probs.begin(), t.log_probs.end()), kLogProbs[i]);
  }
  EXPECT_EQ(base->Token(0).log_rest, -1.0f);
  EXPECT_TRUE(std::isinf(base->Token(1).log_rest));
}

TEST(KlBaseFileTest, HashDependsOnEveryIdAndItsPlace) {
  const uint64_t h = HashTokens(std::vector<int32_t>{1, 2, 3});
  EXPECT_NE(h, HashTokens(std::vector<int32_t>{1, 3, 2}));
  EXPECT_NE(h, HashTokens(std::vector<int32_t>{1, 2, 3, 0}));
  EXPECT_NE(h, HashTokens(std::vector<int32_t>{1, 2, 259}));
  // FNV-1a 64's offset basis for no bytes.
  EXPECT_EQ(HashTokens({}), 0xcbf29ce484222325ull);
}

TEST(KlBaseFileTest, RefusesDamagedFiles) {
  const std::string good = SmallFile();
  EXPECT_EQ(ErrorOf(good), "");
  EXPECT_NE(ErrorOf(good.substr(0, good.size() - 1)).find("truncated"), std::string::npos);
  EXPECT_NE(ErrorOf(good.substr(0, 30)).find("truncated"), std::string::npos);
  EXPECT_NE(ErrorOf(good.substr(0, 4)).find("BLOOMKLD"), std::string::npos);
  EXPECT_NE(ErrorOf(good + "x").find("1 bytes after the last record"), std::string::npos);
  EXPECT_NE(ErrorOf("GGUFKLD" + good.substr(7)).find("BLOOMKLD"), std::string::npos);
  EXPECT_NE(ErrorOf(With<uint32_t>(good, 8, 2)).find("version 2"), std::string::npos);
  // Header fields that do not add up.
  EXPECT_NE(ErrorOf(With<uint64_t>(good, 48, 3)).find("3 scored tokens"), std::string::npos);
  EXPECT_NE(ErrorOf(With<uint64_t>(good, 40, 3)).find("3 windows"), std::string::npos);
  EXPECT_NE(ErrorOf(With<uint64_t>(good, 40, 0)).find("0 windows"), std::string::npos);
  EXPECT_NE(ErrorOf(With<uint32_t>(good, 12, 11)).find("top-k"), std::string::npos);
  EXPECT_NE(ErrorOf(With<uint32_t>(good, 12, 0)).find("top-k"), std::string::npos);
  EXPECT_NE(ErrorOf(With<uint32_t>(good, 28, 4)).find("--stride"), std::string::npos);
  EXPECT_NE(ErrorOf(With<uint64_t>(good, 32, 3)).find("fewer than one window"), std::string::npos);
  EXPECT_NE(ErrorOf(With<uint64_t>(good, 16, 0)).find("vocab"), std::string::npos);
  EXPECT_NE(ErrorOf(With<uint64_t>(good, 16, ~uint64_t{0})).find("vocab"), std::string::npos);
  EXPECT_NE(ErrorOf(With<uint32_t>(good, 24, ~uint32_t{0})).find("out of range"),
            std::string::npos);
  // Records (the first at byte 64: i32 target, f64 its log-prob, f32 log
  // rest, 2 ids, 2 log-probs).
  const size_t r = kKlBaseHeaderBytes;
  EXPECT_NE(ErrorOf(With<int32_t>(good, r, 10)).find("scored token 0: token id 10"),
            std::string::npos);
  EXPECT_NE(ErrorOf(With<int32_t>(good, r, -1)).find("outside the vocabulary"), std::string::npos);
  EXPECT_NE(ErrorOf(With<double>(good, r + 4, 0.5)).find("log-probability"), std::string::npos);
  EXPECT_NE(ErrorOf(With<float>(good, r + 12, std::nanf(""))).find("log-probability"),
            std::string::npos);
  EXPECT_NE(ErrorOf(With<int32_t>(good, r + 16, 10)).find("top id 10"), std::string::npos);
  EXPECT_NE(ErrorOf(With<int32_t>(good, r + 20, 7)).find("twice"), std::string::npos);
  EXPECT_NE(ErrorOf(With<float>(good, r + 28, -0.1f)).find("descending"), std::string::npos);
  EXPECT_NE(ErrorOf(With<float>(good, r + 24, -std::numeric_limits<float>::infinity()))
                .find("not finite"),
            std::string::npos);
  // Every error names the file.
  EXPECT_EQ(ErrorOf(good.substr(0, 60)).rfind("base.kld: ", 0), 0u);
}

TEST(KlBaseFileTest, MatchesOnlyTheSameTextAndSettings) {
  const KlBaseHeader base = SmallHeader();
  EXPECT_TRUE(CheckKlBaseMatches(base, base, "base.kld").ok());
  auto error = [&](KlBaseHeader run) {
    return std::string(CheckKlBaseMatches(base, run, "base.kld").message());
  };
  KlBaseHeader run = base;
  run.vocab = 12;
  EXPECT_NE(error(run).find("vocabulary of 10, this run has 12"), std::string::npos);
  run = base;
  run.ctx = 8;
  EXPECT_NE(error(run).find("--ctx 4, this run has 8"), std::string::npos);
  run = base;
  run.stride = 1;
  EXPECT_NE(error(run).find("--stride"), std::string::npos);
  run = base;
  run.num_tokens = 9;
  EXPECT_NE(error(run).find("8, this run has 9"), std::string::npos);
  run = base;
  run.windows = 1;
  EXPECT_NE(error(run).find("--chunks"), std::string::npos);
  run = base;
  run.tokens_hash ^= 1;
  EXPECT_NE(error(run).find("another text"), std::string::npos);
}

}  // namespace
}  // namespace bloom::serve
