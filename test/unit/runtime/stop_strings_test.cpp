// Tests stop strings on streamed text: the matcher against a naive
// whole-text reference on random chunkings, and TextStream on the embedded
// tiny BLOOM tokenizer with stop strings that span token boundaries and
// split UTF-8 characters.
#include "runtime/serve/stop_strings.h"

#include <gtest/gtest.h>

#include <random>

#include "runtime/serve/text_stream.h"

namespace bloom {
namespace {

TEST(StopStringMatcherTest, StopSplitAcrossPieces) {
  StopStringMatcher m({"END"});
  EXPECT_EQ(m.Push("ab"), "ab");
  EXPECT_EQ(m.Push("cE"), "c");  // "E" may begin "END"
  EXPECT_EQ(m.Push("N"), "");
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.Push("Dxyz"), "");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.Push("more"), "");
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopStringMatcherTest, HeldPrefixIsReleasedWhenItStopsMatching) {
  StopStringMatcher m({"END"});
  EXPECT_EQ(m.Push("xE"), "x");
  EXPECT_EQ(m.Push("Nx"), "ENx");
  EXPECT_EQ(m.Push("EN"), "");
  EXPECT_EQ(m.Flush(), "EN");
  EXPECT_FALSE(m.stopped());
}

TEST(StopStringMatcherTest, SelfOverlappingStopAndLeftmostOfSeveral) {
  StopStringMatcher m({"aab"});
  std::string out;
  for (const char* piece : {"a", "a", "a", "b", "c"}) out += m.Push(piece);
  EXPECT_EQ(out, "a");  // "aaab": the stop starts at offset 1
  EXPECT_TRUE(m.stopped());
  StopStringMatcher several({"abcd", "bc", ""});
  EXPECT_EQ(several.Push("zab"), "z");
  EXPECT_EQ(several.Push("c"), "a");  // "bc" at offset 2 comes first
  EXPECT_TRUE(several.stopped());
}

// Naive reference: everything up to the leftmost stop in the whole text;
// while not stopped, everything except the longest tail that is a proper
// prefix of a stop string.
std::string NaiveReleased(const std::string& text, const std::vector<std::string>& stops,
                          bool* stopped) {
  size_t first = std::string::npos;
  for (const std::string& s : stops) first = std::min(first, text.find(s));
  *stopped = first != std::string::npos;
  if (*stopped) return text.substr(0, first);
  size_t keep = 0;
  for (const std::string& s : stops) {
    for (size_t n = 1; n < s.size() && n <= text.size(); ++n) {
      if (text.compare(text.size() - n, n, s, 0, n) == 0) keep = std::max(keep, n);
    }
  }
  return text.substr(0, text.size() - keep);
}

TEST(StopStringMatcherTest, MatchesNaiveReferenceOnRandomChunkings) {
  std::mt19937 rng(11);
  auto random_string = [&](int min_len, int max_len) {
    std::string s(std::uniform_int_distribution<int>(min_len, max_len)(rng), 'a');
    for (char& c : s) c = "abc"[std::uniform_int_distribution<int>(0, 2)(rng)];
    return s;
  };
  int stops_seen = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<std::string> stops;
    for (int i = std::uniform_int_distribution<int>(1, 3)(rng); i > 0; --i) {
      stops.push_back(random_string(1, 4));
    }
    const std::string text = random_string(0, 20);
    StopStringMatcher m(stops);
    std::string released, pushed;
    size_t at = 0;
    while (at < text.size()) {
      const size_t n = std::uniform_int_distribution<size_t>(1, 4)(rng);
      pushed += text.substr(at, n);
      released += m.Push(text.substr(at, n));
      at += n;
      bool stopped;
      ASSERT_EQ(released, NaiveReleased(pushed, stops, &stopped)) << "text " << text;
      ASSERT_EQ(m.stopped(), stopped);
      if (stopped) break;
    }
    if (m.stopped()) {
      ++stops_seen;
    } else {
      EXPECT_EQ(released + m.Flush(), text);
    }
  }
  EXPECT_GT(stops_seen, 500);  // both outcomes are exercised
}

class TextStreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded =
        Tokenizer::Load(std::string(BLOOM_SOURCE_DIR) + "/models/bloom/tiny-random/tokenizer.json");
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    tokenizer_ = new Tokenizer(*std::move(loaded));
  }
  static const Tokenizer* tokenizer_;
};
const Tokenizer* TextStreamTest::tokenizer_ = nullptr;

// Feeds `text`'s ids one at a time; checks that the streamed text is the
// text up to the stop string, and that it stops at the first token whose
// decoded prefix contains the stop string, not before.
void CheckStop(const Tokenizer& tok, const std::string& text, const std::string& stop) {
  auto ids = tok.Encode(text);
  ASSERT_TRUE(ids.ok());
  const size_t cut = text.find(stop);
  ASSERT_NE(cut, std::string::npos);
  // The stop string must span tokens, or this would test nothing.
  for (int32_t id : *ids) ASSERT_EQ(tok.Decode({id}).find(stop), std::string::npos);
  size_t stop_token = 0;
  while (tok.Decode(absl::MakeConstSpan(*ids).subspan(0, stop_token + 1)).find(stop) ==
         std::string::npos) {
    ++stop_token;
  }
  TextStream stream(tok, {stop});
  std::string streamed;
  for (size_t i = 0; i < ids->size(); ++i) {
    streamed += stream.Next((*ids)[i]);
    EXPECT_EQ(stream.stopped(), i >= stop_token) << "token " << i;
    EXPECT_EQ(text.compare(0, streamed.size(), streamed), 0) << "streamed text is not a prefix";
    EXPECT_LE(streamed.size(), cut);
    if (stream.stopped()) break;
  }
  streamed += stream.Finish();
  EXPECT_EQ(streamed, text.substr(0, cut));
  EXPECT_EQ(stream.text(), streamed);
}

TEST_F(TextStreamTest, StopStringAcrossTokenBoundaries) {
  CheckStop(*tokenizer_, "The quick brown fox jumps over the lazy dog.", "fox ju");
  CheckStop(*tokenizer_, "The quick brown fox jumps over the lazy dog.", "s over t");
}

TEST_F(TextStreamTest, StopStringInsideSplitMultibyteCharacters) {
  // In the tiny vocab CJK characters are split into byte tokens, so the
  // stop string begins and ends inside characters' byte sequences.
  CheckStop(*tokenizer_, "Hello 日本語のテキスト and more", "語のテ");
}

TEST_F(TextStreamTest, SpecialTokensAreSkippedAndTextIsCompleteWithoutStop) {
  const std::string text = "Hello world, 日本";
  auto ids = tokenizer_->Encode(text);
  ASSERT_TRUE(ids.ok());
  std::vector<int32_t> with_eos = *ids;
  with_eos.push_back(*tokenizer_->TokenId("</s>"));
  TextStream stream(*tokenizer_, {"zzz"});
  std::string streamed;
  for (int32_t id : with_eos) streamed += stream.Next(id);
  streamed += stream.Finish();
  EXPECT_EQ(streamed, text);
  EXPECT_FALSE(stream.stopped());
}

}  // namespace
}  // namespace bloom
