// Tests each sampling transform against distributions worked out by hand
// (the arithmetic is in the comments), the order in which HF applies them,
// seeded reproducibility, and the draw's frequencies.
#include "runtime/serve/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace bloom {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> LogOf(std::vector<double> p) {
  std::vector<float> out;
  for (double v : p) out.push_back(v > 0 ? static_cast<float>(std::log(v)) : -kInf);
  return out;
}

void ExpectDistribution(const std::vector<double>& got, const std::vector<double>& want,
                        double tol = 1e-6) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "token " << i;
}

TEST(SamplerTest, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  std::vector<float> logits = {2.0f, -1.0f, 0.5f, 3.0f};
  // Token 1 appears twice but is penalised once; token 3 never appears.
  ApplyRepetitionPenalty(absl::MakeSpan(logits), {0, 1, 1}, 2.0f);
  EXPECT_EQ(logits, (std::vector<float>{1.0f, -2.0f, 0.5f, 3.0f}));
}

TEST(SamplerTest, RepetitionPenaltyChangesTheGreedyChoice) {
  // Without the penalty token 0 (logit 2) wins; with penalty 1.5 it drops to
  // 2/1.5 = 1.33 < 1.5, so token 2 wins.
  SamplingParams params;
  params.repetition_penalty = 1.5f;
  Sampler sampler(params);
  const std::vector<float> logits = {2.0f, -1.0f, 1.5f};
  EXPECT_EQ(sampler.Choose(logits, {0}, -1).id, 2);
  EXPECT_EQ(Sampler(SamplingParams{}).Choose(logits, {0}, -1).id, 0);
}

TEST(SamplerTest, TemperatureScalesLogits) {
  std::vector<float> logits = {1.0f, 2.0f, -3.0f};
  ApplyTemperature(absl::MakeSpan(logits), 0.5f);
  EXPECT_EQ(logits, (std::vector<float>{2.0f, 4.0f, -6.0f}));
}

TEST(SamplerTest, TopKKeepsTheKLargestAndTiesAtTheThreshold) {
  std::vector<float> logits = {1.0f, 3.0f, 2.0f, 0.0f};
  ApplyTopK(absl::MakeSpan(logits), 2);
  EXPECT_EQ(logits, (std::vector<float>{-kInf, 3.0f, 2.0f, -kInf}));
  // HF compares against the k-th largest value: both 3s stay for k = 1.
  std::vector<float> ties = {1.0f, 3.0f, 2.0f, 3.0f};
  ApplyTopK(absl::MakeSpan(ties), 1);
  EXPECT_EQ(ties, (std::vector<float>{-kInf, 3.0f, -kInf, 3.0f}));
  std::vector<float> off = {1.0f, 2.0f};
  ApplyTopK(absl::MakeSpan(off), 0);
  EXPECT_EQ(off, (std::vector<float>{1.0f, 2.0f}));
}

TEST(SamplerTest, TopPKeepsTheSmallestSetReachingTheMass) {
  // p = [0.1, 0.4, 0.3, 0.2]. By decreasing p the mass before each token is
  // 0 (0.4), 0.4 (0.3), 0.7 (0.2), 0.9 (0.1).
  // top_p = 0.65 keeps 0.4 and 0.3: renormalised 4/7, 3/7.
  std::vector<float> a = LogOf({0.1, 0.4, 0.3, 0.2});
  ApplyTopP(absl::MakeSpan(a), 0.65f);
  ExpectDistribution(Softmax(a), {0, 4.0 / 7, 3.0 / 7, 0});
  // top_p = 0.75 also keeps 0.2 (mass before it 0.7 < 0.75): /0.9.
  std::vector<float> b = LogOf({0.1, 0.4, 0.3, 0.2});
  ApplyTopP(absl::MakeSpan(b), 0.75f);
  ExpectDistribution(Softmax(b), {0, 0.4 / 0.9, 0.3 / 0.9, 0.2 / 0.9});
  // A tiny top_p keeps only the most likely token.
  std::vector<float> c = LogOf({0.1, 0.4, 0.3, 0.2});
  ApplyTopP(absl::MakeSpan(c), 0.01f);
  ExpectDistribution(Softmax(c), {0, 1, 0, 0});
}

TEST(SamplerTest, TypicalPKeepsTokensClosestToTheEntropy) {
  // p = [1/2, 1/4, 1/8, 1/8]: -log2 p = [1, 2, 3, 3], entropy H = 1.75 bits.
  // |-log p - H| = [0.75, 0.25, 1.25, 1.25] (× ln 2), so the order is
  // token 1, token 0, token 2, token 3 with prefix sums 0.25, 0.75, 0.875, 1.
  const std::vector<double> p = {0.5, 0.25, 0.125, 0.125};
  // mass 0.5: token 1 (0.25 < 0.5), then token 0 reaches 0.75: keep {1, 0}.
  std::vector<float> a = LogOf(p);
  ApplyTypicalP(absl::MakeSpan(a), 0.5f);
  ExpectDistribution(Softmax(a), {2.0 / 3, 1.0 / 3, 0, 0});
  // mass 0.2: token 1 alone reaches it.
  std::vector<float> b = LogOf(p);
  ApplyTypicalP(absl::MakeSpan(b), 0.2f);
  ExpectDistribution(Softmax(b), {0, 1, 0, 0});
  // mass 0.8: {1, 0, 2} (0.875 >= 0.8); token 2 comes before token 3 (ties
  // keep id order).
  std::vector<float> c = LogOf(p);
  ApplyTypicalP(absl::MakeSpan(c), 0.8f);
  ExpectDistribution(Softmax(c), {0.5 / 0.875, 0.25 / 0.875, 0.125 / 0.875, 0});
}

TEST(SamplerTest, WarpersRunInHfOrderAfterTheProcessors) {
  // logits [2, 1, 0, -1], context {0}, penalty 2 -> [1, 1, 0, -1];
  // temperature 0.5 -> [2, 2, 0, -2]; top_k = 3 -> [2, 2, 0, -inf];
  // softmax: e^2 / (2 e^2 + 1) each for tokens 0 and 1, 1 / (2 e^2 + 1).
  SamplingParams params;
  params.do_sample = true;
  params.repetition_penalty = 2.0f;
  params.temperature = 0.5f;
  params.top_k = 3;
  Sampler sampler(params);
  const double e2 = std::exp(2.0), z = 2 * e2 + 1;
  ExpectDistribution(sampler.Distribution(std::vector<float>{2, 1, 0, -1}, {0}, -1),
                     {e2 / z, e2 / z, 1 / z, 0});
  // Temperature before top-p: at temperature 0.5 the same row has p ∝
  // [e^2, e^2, 1, e^-2]; top_p = 0.9: mass before token 2 is 2e^2/(2e^2 + 1 +
  // e^-2) = 0.9287 >= 0.9, so only tokens 0 and 1 remain.
  params.top_k = 0;
  params.top_p = 0.9f;
  ExpectDistribution(Sampler(params).Distribution(std::vector<float>{2, 1, 0, -1}, {0}, -1),
                     {0.5, 0.5, 0, 0});
}

TEST(SamplerTest, TopPSeesTheDistributionLeftByTopK) {
  // p = [0.5, 0.3, 0.1, 0.1], top_k = 2, top_p = 0.55. HF's order: top-k
  // leaves [0.625, 0.375]; then the mass before token 1 is 0.625 >= 0.55, so
  // only token 0 stays. (The other order would keep tokens 0 and 1.)
  SamplingParams params;
  params.do_sample = true;
  params.top_k = 2;
  params.top_p = 0.55f;
  ExpectDistribution(Sampler(params).Distribution(LogOf({0.5, 0.3, 0.1, 0.1}), {}, -1),
                     {1, 0, 0, 0});
}

TEST(SamplerTest, GreedyIgnoresWarpersAndBannedTokenIsNeverChosen) {
  SamplingParams params;  // do_sample false
  params.temperature = 5.0f;
  params.top_k = 2;
  const std::vector<float> logits = {0.5f, 4.0f, 3.0f};
  ExpectDistribution(Sampler(params).Distribution(logits, {}, -1), {0, 1, 0});
  // Banning the argmax (the eos token under min_new_tokens) picks the next.
  EXPECT_EQ(Sampler(params).Choose(logits, {}, 1).id, 2);
  params.do_sample = true;
  Sampler sampling(params);
  for (int i = 0; i < 200; ++i) EXPECT_NE(sampling.Choose(logits, {}, 1).id, 1);
}

TEST(SamplerTest, TopKOfOneEqualsGreedy) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0, 3);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<float> logits(100);
    for (float& v : logits) v = normal(rng);
    SamplingParams params;
    params.do_sample = true;
    params.top_k = 1;
    params.temperature = 1.7f;
    params.seed = trial;
    const int32_t greedy = Sampler(SamplingParams{}).Choose(logits, {}, -1).id;
    EXPECT_EQ(Sampler(params).Choose(logits, {}, -1).id, greedy);
  }
}

TEST(SamplerTest, SameSeedSameDrawsDifferentSeedDifferentDraws) {
  const std::vector<float> logits(50, 0.0f);  // uniform: every draw is random
  SamplingParams params;
  params.do_sample = true;
  params.seed = 42;
  Sampler a(params), b(params);
  params.seed = 43;
  Sampler c(params);
  std::vector<int32_t> da, db, dc;
  for (int i = 0; i < 64; ++i) {
    da.push_back(a.Choose(logits, {}, -1).id);
    db.push_back(b.Choose(logits, {}, -1).id);
    dc.push_back(c.Choose(logits, {}, -1).id);
  }
  EXPECT_EQ(da, db);
  EXPECT_NE(da, dc);
}

TEST(SamplerTest, DrawFrequenciesFollowTheDistribution) {
  // p = [1/2, 1/4, 1/4] at temperature 2 becomes ∝ sqrt(p) =
  // [0.7071, 0.5, 0.5] / 1.7071 = [0.4142, 0.2929, 0.2929].
  SamplingParams params;
  params.do_sample = true;
  params.temperature = 2.0f;
  params.seed = 7;
  Sampler sampler(params);
  const std::vector<float> logits = LogOf({0.5, 0.25, 0.25});
  const int n = 40000;
  std::vector<int> counts(3);
  for (int i = 0; i < n; ++i) ++counts[sampler.Choose(logits, {}, -1).id];
  // Binomial standard deviation sqrt(p(1-p)/n) ≈ 0.0025; allow 4 of them.
  EXPECT_NEAR(counts[0] / double(n), 0.4142, 0.01);
  EXPECT_NEAR(counts[1] / double(n), 0.2929, 0.01);
  EXPECT_NEAR(counts[2] / double(n), 0.2929, 0.01);
}

TEST(SamplerTest, ValidationNamesTheField) {
  auto check = [](SamplingParams p, const char* needle) {
    absl::Status s = ValidateSamplingParams(p, [](const char* f) { return std::string("--") + f; });
    EXPECT_FALSE(s.ok()) << needle;
    EXPECT_NE(std::string(s.message()).find(needle), std::string::npos) << s.message();
  };
  SamplingParams p;
  EXPECT_TRUE(ValidateSamplingParams(p).ok());
  p.temperature = -0.5f;
  check(p, "--temperature");
  p = {};
  p.top_p = 0.0f;
  check(p, "--top_p");
  p.top_p = 1.5f;
  check(p, "--top_p");
  p = {};
  p.typical_p = 0.0f;
  check(p, "--typical_p");
  p = {};
  p.top_k = -1;
  check(p, "--top_k");
  p = {};
  p.repetition_penalty = 0.0f;
  check(p, "--repetition_penalty");
  p = {};
  p.temperature = 0.0f;  // greedy, allowed
  EXPECT_TRUE(ValidateSamplingParams(p).ok());
}

}  // namespace
TEST(SamplerTest, LogprobIsTheChosenTokensLogProbabilityUnderItsDistribution) {
  const std::vector<float> logits = LogOf({0.5, 0.25, 0.25});
  // Greedy: the softmax of the row itself.
  const ChosenToken greedy = Sampler(SamplingParams{}).Choose(logits, {}, -1);
  EXPECT_EQ(greedy.id, 0);
  EXPECT_NEAR(greedy.logprob, std::log(0.5), 1e-6);
  // Greedy with token 0 banned: the softmax of what is left, [1/2, 1/2].
  const ChosenToken banned = Sampler(SamplingParams{}).Choose(logits, {}, 0);
  EXPECT_EQ(banned.id, 1);
  EXPECT_NEAR(banned.logprob, std::log(0.5), 1e-6);
  // Sampling at temperature 2: the warped distribution (see above).
  SamplingParams params;
  params.do_sample = true;
  params.temperature = 2.0f;
  params.seed = 3;
  Sampler sampler(params);
  const double warped[] = {0.7071067811865476 / 1.7071067811865475,
                           0.5 / 1.7071067811865475, 0.5 / 1.7071067811865475};
  for (int i = 0; i < 50; ++i) {
    const ChosenToken t = sampler.Choose(logits, {}, -1);
    ASSERT_GE(t.id, 0);
    ASSERT_LT(t.id, 3);
    EXPECT_NEAR(t.logprob, std::log(warped[t.id]), 1e-6);
  }
}

}  // namespace bloom
