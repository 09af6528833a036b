// Perplexity's windows and scores against values worked out by hand:
// llama.cpp's window layout (halves and stride) for given token counts, a
// token's NLL from a log-softmax whose probabilities are simple fractions,
// PPL and its standard error, and the KL statistics' percentiles and paired
// errors.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "runtime/serve/perplexity_windows.h"
#include "runtime/serve/score_statistics.h"
#include "runtime/serve/token_scoring.h"

namespace bloom::serve {
namespace {

std::vector<int64_t> StartsOf(const std::vector<PerplexityWindow>& windows) {
  std::vector<int64_t> starts;
  for (const PerplexityWindow& w : windows) starts.push_back(w.start);
  return starts;
}

TEST(PerplexityWindowsTest, HalvesAreBackToBackAndDropTheTail) {
  // 20 tokens, N = 6: windows at 0, 6, 12 (tokens 18, 19 dropped); each
  // scores positions 3..4 (predicting 4..5): 2 per window.
  auto windows = PerplexityWindows(20, 6, 0);
  ASSERT_TRUE(windows.ok()) << windows.status();
  EXPECT_EQ(StartsOf(*windows), (std::vector<int64_t>{0, 6, 12}));
  EXPECT_EQ((*windows)[0].first_scored, 3);
  EXPECT_EQ(ScoredPerWindow(6, 0), 2);
  // Odd N: positions N/2 = 3 .. N-2 = 5.
  EXPECT_EQ(ScoredPerWindow(7, 0), 3);
  EXPECT_EQ((*PerplexityWindows(20, 7, 0))[0].first_scored, 3);
  // Exactly one window.
  EXPECT_EQ(PerplexityWindows(20, 20, 0)->size(), 1u);
}

TEST(PerplexityWindowsTest, StridedWindowsScoreTheirLastSPredictions) {
  // 20 tokens, N = 8, S = 3: starts 0, 3, 6, 9, 12 (15 + 8 > 20); each
  // scores positions 8-1-3 = 4 .. 6.
  auto windows = PerplexityWindows(20, 8, 3);
  ASSERT_TRUE(windows.ok()) << windows.status();
  EXPECT_EQ(StartsOf(*windows), (std::vector<int64_t>{0, 3, 6, 9, 12}));
  EXPECT_EQ((*windows)[0].first_scored, 4);
  EXPECT_EQ(ScoredPerWindow(8, 3), 3);
  // S = N - 1 scores every prediction of the window, from position 0.
  EXPECT_EQ((*PerplexityWindows(20, 20, 19))[0].first_scored, 0);
}

TEST(PerplexityWindowsTest, CountsWithoutListing) {
  EXPECT_EQ(*WindowCount(20, 6, 0), 3);
  EXPECT_EQ(*WindowCount(20, 8, 3), 5);
  EXPECT_EQ(*WindowCount(20, 20, 0), 1);
  // A base file's header may claim any length: 2^40 - 1 windows, no list.
  EXPECT_EQ(*WindowCount(int64_t{1} << 40, 2, 1), (int64_t{1} << 40) - 1);
  EXPECT_FALSE(WindowCount(5, 6, 0).ok());
}

TEST(PerplexityWindowsTest, RefusesShortTextsAndBadShapes) {
  EXPECT_NE(std::string(PerplexityWindows(7, 8, 0).status().message()).find("7 tokens"),
            std::string::npos);
  EXPECT_FALSE(PerplexityWindows(20, 1, 0).ok());  // N < 2
  EXPECT_FALSE(PerplexityWindows(20, 2, 0).ok());  // no second half
  EXPECT_TRUE(PerplexityWindows(20, 2, 1).ok());   // but a stride of 1 scores one
  EXPECT_FALSE(PerplexityWindows(20, 8, 8).ok());  // S > N - 1
  EXPECT_FALSE(PerplexityWindows(20, 8, -1).ok());
}

TEST(TokenScoringTest, NllIsMinusLogSoftmax) {
  // exp(logits) = 1, 2, 3 (shifted by 5, which softmax ignores): p = 1/6, 2/6, 3/6.
  const std::vector<float> logits = {5.0f, 5.0f + std::log(2.0f), 5.0f + std::log(3.0f)};
  const RowStats stats = StatsOf(logits);
  EXPECT_EQ(stats.argmax, 2);
  EXPECT_NEAR(TokenNll(logits, stats, 2), std::log(2.0), 1e-6);
  EXPECT_NEAR(TokenNll(logits, stats, 0), std::log(6.0), 1e-6);
}

TEST(TokenScoringTest, ArgmaxAndTopKTakeTheLowerIdOnTies) {
  const std::vector<float> logits = {1, 3, 3, 0};
  const RowStats stats = StatsOf(logits);
  EXPECT_EQ(stats.argmax, 1);
  std::vector<int32_t> ids;
  std::vector<float> log_probs;
  ScoringScratch scratch;
  const BaseToken t = TopLogProbsOf(logits, stats, 3, 2, ids, log_probs, scratch);
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 2}));
  // The rest: e^1 + e^0 of e^1 + 2e^3 + e^0.
  const double total = std::exp(1.0) + 2 * std::exp(3.0) + 1;
  EXPECT_NEAR(t.log_rest, std::log((std::exp(1.0) + 1) / total), 1e-6);
  EXPECT_NEAR(t.target_log_prob, -std::log(total), 1e-6);
  // The scratch mask is left clean for the next row.
  for (uint8_t m : scratch.mask) EXPECT_EQ(m, 0);
}

// p = 0.4, 0.3, 0.2, 0.1 (the base); q uniform (the run).
struct KlCase {
  std::vector<float> base = {std::log(4.0f), std::log(3.0f), std::log(2.0f), 0.0f};
  std::vector<float> run = {0, 0, 0, 0};
};

TEST(TokenScoringTest, KlOverTopKPlusRestIsALowerBoundExactWhenKCoversTheMass) {
  KlCase c;
  ScoringScratch scratch;
  // A BaseToken points into the vectors it was made in: one pair per token.
  std::vector<int32_t> ids, ids4;
  std::vector<float> log_probs, log_probs4;
  const RowStats base_stats = StatsOf(c.base), run_stats = StatsOf(c.run);
  // K = 2: buckets {0}, {1}, rest {2, 3}: p = .4, .3, .3; q = .25, .25, .5.
  const BaseToken top2 = TopLogProbsOf(c.base, base_stats, 0, 2, ids, log_probs, scratch);
  const double kl2 = KlDivergence(top2, c.run, run_stats, scratch);
  const double expected2 =
      0.4 * std::log(0.4 / 0.25) + 0.3 * std::log(0.3 / 0.25) + 0.3 * std::log(0.3 / 0.5);
  EXPECT_NEAR(kl2, expected2, 1e-6);
  // K = 4 = vocab: the full KL, and the rest bucket is empty (-inf).
  const BaseToken top4 = TopLogProbsOf(c.base, base_stats, 0, 4, ids4, log_probs4, scratch);
  EXPECT_TRUE(std::isinf(top4.log_rest) && top4.log_rest < 0);
  const double full =
      0.4 * std::log(1.6) + 0.3 * std::log(1.2) + 0.2 * std::log(0.8) + 0.1 * std::log(0.4);
  EXPECT_NEAR(KlDivergence(top4, c.run, run_stats, scratch), full, 1e-6);
  EXPECT_LT(kl2, full);
  // A row against its own top-K is exactly 0.
  EXPECT_EQ(KlDivergence(top2, c.base, base_stats, scratch), 0.0);
}

TEST(ScoreStatisticsTest, PerplexityAndItsErrorAsLlamaCpp) {
  NllStats s;
  for (double nll : {1.0, 2.0, 3.0}) s.Add(nll);
  const PerplexityEstimate e = s.Estimate();
  EXPECT_EQ(e.count, 3);
  EXPECT_DOUBLE_EQ(e.nll_mean, 2.0);
  EXPECT_NEAR(e.ppl, std::exp(2.0), 1e-12);
  // mean(x^2) - mean(x)^2 = 14/3 - 4 = 2/3; / (n - 1) = 1/3.
  EXPECT_NEAR(e.ppl_stderr, std::exp(2.0) * std::sqrt(1.0 / 3), 1e-12);
  NllStats one;
  one.Add(1.0);
  EXPECT_TRUE(std::isnan(one.Estimate().ppl_stderr));
}

TEST(ScoreStatisticsTest, PercentilesInterpolateLinearly) {
  const std::vector<double> sorted = {1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(Percentile(sorted, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(Percentile(sorted, 0.9), 3.7);  // at 2.7: 3 + 0.7
  EXPECT_DOUBLE_EQ(Percentile(sorted, 1.0), 4);
  EXPECT_DOUBLE_EQ(Percentile({5}, 0.99), 5);
}

TEST(ScoreStatisticsTest, KlReportPairsTheRunWithTheBase) {
  KlStats k;
  // Run NLLs 1, 2, 3 against base NLLs all 1: the base has no spread, so
  // the covariance is 0 and the ratio's error is the run's alone.
  k.Add(0.1, true, 1, 1);
  k.Add(0.3, false, 2, 1);
  k.Add(0.2, true, 3, 1);
  k.Add(0.4, true, 2, 1);
  const KlReport r = k.Report();
  EXPECT_EQ(r.count, 4);
  EXPECT_NEAR(r.kl_mean, 0.25, 1e-12);
  // mean(kl^2) = 0.075, minus 0.0625 = 0.0125; / 3.
  EXPECT_NEAR(r.kl_stderr, std::sqrt(0.0125 / 3), 1e-12);
  EXPECT_NEAR(r.kl_median, 0.25, 1e-12);
  EXPECT_NEAR(r.kl_p99, 0.3 + 0.97 * 0.1, 1e-12);  // at 0.99 * 3 = 2.97
  EXPECT_DOUBLE_EQ(r.kl_max, 0.4);
  EXPECT_DOUBLE_EQ(r.kl_min, 0.1);
  EXPECT_DOUBLE_EQ(r.same_top1, 0.75);
  EXPECT_NEAR(r.same_top1_stderr, std::sqrt(0.75 * 0.25 / 3), 1e-12);
  EXPECT_NEAR(r.ln_ppl_ratio, 1.0, 1e-12);
  // Run NLLs 1, 2, 3, 2: variance 0.5, error of the mean sqrt(0.5 / 3).
  const double run_err = std::sqrt(0.5 / 3);
  EXPECT_NEAR(r.ln_ppl_ratio_stderr, run_err, 1e-12);
  EXPECT_NEAR(r.base.ppl, std::exp(1.0), 1e-12);
  EXPECT_NEAR(r.delta_ppl, std::exp(2.0) - std::exp(1.0), 1e-12);
  EXPECT_NEAR(r.delta_ppl_stderr, std::exp(2.0) * run_err, 1e-12);

  // A run identical to its base: the paired errors cancel.
  KlStats same;
  for (double nll : {1.0, 2.5, 0.5}) same.Add(0, true, nll, nll);
  EXPECT_NEAR(same.Report().ln_ppl_ratio_stderr, 0, 1e-9);
  EXPECT_NEAR(same.Report().delta_ppl_stderr, 0, 1e-6);
}

}  // namespace
}  // namespace bloom::serve
