// The GPU token choice (kernels/cuda/choose_tokens.cuh) against the CPU
// sampler (runtime/serve/sampler.h), the reference it must follow:
//  - with the same uniforms, every draw picks the token the CPU sampler's
//    inverse CDF over its own distribution picks (up to rounding at a
//    boundary: at most 1 in 1,000 may differ, and none may land outside the
//    CPU distribution's support);
//  - the draws' frequencies pass a chi-square goodness-of-fit test against
//    the CPU distribution (Wilson-Hilferty z below 4.5, p ~ 3e-6; the seeds
//    are fixed, so the test is deterministic);
//  - each token's log-probability is the CPU distribution's;
//  - greedy rows give the CPU sampler's argmax and log-softmax.
// Settings: temperature, top-k, top-p, typical-p, repetition penalty and a
// banned token, alone and together, on a 4,096-token row and on BLOOM's
// 250,880, and rows of different settings side by side in one launch.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cuda/choose_tokens.cuh"
#include "runtime/serve/sampler.h"
#include "test/gpu/gpu_test_util.h"

namespace bloom {
namespace {

using cuda::TokenChoiceRow;

// Logits like a language model's: mostly small, a heavy upper tail.
std::vector<float> LmLikeLogits(int64_t vocab, uint64_t seed, float spread = 2.5f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, spread);
  std::vector<float> logits(vocab);
  for (float& v : logits) v = normal(rng);
  return logits;
}

struct Case {
  std::string name;
  SamplingParams params;            // do_sample true for the sampled cases
  std::vector<int32_t> context;     // for the repetition penalty
  int32_t banned_token = -1;
};

TokenChoiceRow RowFor(const Case& c, double uniform, int32_t penalty_count) {
  TokenChoiceRow row;
  row.uniform = uniform;
  row.temperature = c.params.temperature;
  row.top_k = c.params.top_k;
  row.top_p = c.params.top_p;
  row.typical_p = c.params.typical_p;
  row.repetition_penalty = c.params.repetition_penalty;
  row.banned_token = c.banned_token;
  row.penalty_begin = 0;
  row.penalty_count = penalty_count;
  row.sample = c.params.do_sample ? 1 : 0;
  return row;
}

// Runs `rows` copies of `logits` (row r with settings rows[r]) through the
// kernel; ids and logprobs come back.
void RunKernel(const std::vector<float>& logits, const std::vector<TokenChoiceRow>& rows,
               const std::vector<int32_t>& penalized, std::vector<int32_t>& ids,
               std::vector<float>& logprobs) {
  const int64_t vocab = static_cast<int64_t>(logits.size());
  const int64_t n = static_cast<int64_t>(rows.size());
  float* d_logits = nullptr;
  TokenChoiceRow* d_rows = nullptr;
  int32_t *d_penalized = nullptr, *d_ids = nullptr;
  float* d_logprobs = nullptr;
  BLOOM_CUDA_OK(cudaMalloc(&d_logits, n * vocab * sizeof(float)));
  BLOOM_CUDA_OK(cudaMalloc(&d_rows, n * sizeof(TokenChoiceRow)));
  BLOOM_CUDA_OK(cudaMalloc(&d_penalized, std::max<size_t>(penalized.size(), 1) * sizeof(int32_t)));
  BLOOM_CUDA_OK(cudaMalloc(&d_ids, n * sizeof(int32_t)));
  BLOOM_CUDA_OK(cudaMalloc(&d_logprobs, n * sizeof(float)));
  for (int64_t r = 0; r < n; ++r) {
    BLOOM_CUDA_OK(cudaMemcpy(d_logits + r * vocab, logits.data(), vocab * sizeof(float),
                             cudaMemcpyHostToDevice));
  }
  BLOOM_CUDA_OK(cudaMemcpy(d_rows, rows.data(), n * sizeof(TokenChoiceRow), cudaMemcpyHostToDevice));
  if (!penalized.empty()) {
    BLOOM_CUDA_OK(cudaMemcpy(d_penalized, penalized.data(), penalized.size() * sizeof(int32_t),
                             cudaMemcpyHostToDevice));
  }
  BLOOM_CUDA_OK(cuda::LaunchChooseTokens(d_logits, n, vocab, d_rows, d_penalized, d_ids,
                                         d_logprobs, nullptr));
  BLOOM_CUDA_OK(cudaDeviceSynchronize());
  ids.resize(n);
  logprobs.resize(n);
  BLOOM_CUDA_OK(cudaMemcpy(ids.data(), d_ids, n * sizeof(int32_t), cudaMemcpyDeviceToHost));
  BLOOM_CUDA_OK(
      cudaMemcpy(logprobs.data(), d_logprobs, n * sizeof(float), cudaMemcpyDeviceToHost));
  cudaFree(d_logits);
  cudaFree(d_rows);
  cudaFree(d_penalized);
  cudaFree(d_ids);
  cudaFree(d_logprobs);
}

// Pearson's chi-square of `counts` against n·p, bins with expected count
// under 5 pooled (and the pool merged into the last bin if still small),
// as a Wilson-Hilferty z score.
double ChiSquareZ(const std::vector<int64_t>& counts, const std::vector<double>& p, int64_t n,
                  int* bins_out) {
  std::vector<double> expected, observed;
  double pool_e = 0, pool_o = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double e = p[i] * n;
    if (e >= 5) {
      expected.push_back(e);
      observed.push_back(static_cast<double>(counts[i]));
    } else {
      pool_e += e;
      pool_o += static_cast<double>(counts[i]);
    }
  }
  if (pool_e >= 5 || expected.empty()) {
    expected.push_back(pool_e);
    observed.push_back(pool_o);
  } else {
    expected.back() += pool_e;
    observed.back() += pool_o;
  }
  const int bins = static_cast<int>(expected.size());
  *bins_out = bins;
  if (bins < 2) return 0;
  double x2 = 0;
  for (int b = 0; b < bins; ++b) {
    x2 += (observed[b] - expected[b]) * (observed[b] - expected[b]) / expected[b];
  }
  const double df = bins - 1;
  const double a = 2.0 / (9.0 * df);
  return (std::cbrt(x2 / df) - (1.0 - a)) / std::sqrt(a);
}

// Draws `draws` tokens for `c` on the GPU in launches of `per_launch` rows
// and checks them against the CPU sampler as the header says.
void CheckAgainstCpu(const Case& c, const std::vector<float>& logits, int64_t draws,
                     int64_t per_launch, uint64_t seed) {
  SCOPED_TRACE(c.name);
  const int64_t vocab = static_cast<int64_t>(logits.size());
  const std::vector<double> p =
      Sampler(c.params).Distribution(logits, c.context, c.banned_token);
  std::vector<int32_t> penalized;
  for (int32_t t : c.context) {
    if (std::find(penalized.begin(), penalized.end(), t) == penalized.end()) penalized.push_back(t);
  }
  std::mt19937_64 rng(seed);
  std::vector<int64_t> counts(vocab, 0);
  int64_t mismatches = 0, outside = 0, done = 0;
  double worst_logprob = 0;
  while (done < draws) {
    const int64_t n = std::min(per_launch, draws - done);
    std::vector<TokenChoiceRow> rows;
    std::vector<double> uniforms;
    for (int64_t r = 0; r < n; ++r) {
      uniforms.push_back(static_cast<double>(rng() >> 11) * 0x1.0p-53);
      rows.push_back(RowFor(c, uniforms.back(), static_cast<int32_t>(penalized.size())));
    }
    std::vector<int32_t> ids;
    std::vector<float> logprobs;
    ASSERT_NO_FATAL_FAILURE(RunKernel(logits, rows, penalized, ids, logprobs));
    for (int64_t r = 0; r < n; ++r) {
      const int32_t id = ids[r];
      ASSERT_GE(id, 0);
      ASSERT_LT(id, vocab);
      ++counts[id];
      if (p[id] == 0) {
        ++outside;
        continue;
      }
      if (id != InverseCdf(p, uniforms[r])) ++mismatches;
      worst_logprob = std::max(worst_logprob, std::fabs(logprobs[r] - std::log(p[id])));
    }
    done += n;
  }
  EXPECT_EQ(outside, 0) << "draws outside the CPU distribution's support";
  EXPECT_LE(mismatches * 1000, draws) << mismatches << " of " << draws
                                      << " draws differ from the CPU sampler's with the same uniform";
  EXPECT_LT(worst_logprob, 2e-3) << "log-probability off the CPU distribution's";
  int bins = 0;
  const double z = ChiSquareZ(counts, p, draws, &bins);
  EXPECT_LT(z, 4.5) << "chi-square over " << bins << " bins";
  std::printf("  %-28s %7lld draws, %5d bins, chi-square z %+.2f, %lld differ, worst logprob %.1e\n",
              c.name.c_str(), static_cast<long long>(draws), bins, z,
              static_cast<long long>(mismatches), worst_logprob);
}

Case Sampled(const std::string& name) {
  Case c;
  c.name = name;
  c.params.do_sample = true;
  return c;
}

TEST(ChooseTokensTest, SampledDrawsFollowTheCpuSamplersDistributions) {
  BLOOM_SKIP_WITHOUT_GPU();
  const std::vector<float> logits = LmLikeLogits(4096, 1);
  std::vector<Case> cases;
  cases.push_back(Sampled("temperature 0.7"));
  cases.back().params.temperature = 0.7f;
  cases.push_back(Sampled("temperature 1"));
  cases.push_back(Sampled("top_k 40"));
  cases.back().params.top_k = 40;
  cases.push_back(Sampled("top_p 0.9"));
  cases.back().params.top_p = 0.9f;
  cases.push_back(Sampled("top_p 0.5, temperature 2"));
  cases.back().params.top_p = 0.5f;
  cases.back().params.temperature = 2.0f;
  cases.push_back(Sampled("typical_p 0.9"));
  cases.back().params.typical_p = 0.9f;
  cases.push_back(Sampled("typical_p 0.5, temperature 1.5"));
  cases.back().params.typical_p = 0.5f;
  cases.back().params.temperature = 1.5f;
  Case all = Sampled("everything, penalty, ban");
  all.params.temperature = 1.3f;
  all.params.top_k = 300;
  all.params.top_p = 0.95f;
  all.params.typical_p = 0.95f;
  all.params.repetition_penalty = 1.3f;
  // The context holds the likeliest tokens (repeated, as a real one is).
  std::vector<int32_t> order(logits.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  for (int k = 1; k < 30; ++k) all.context.push_back(order[k % 12 + 1]);
  all.banned_token = order[0];
  cases.push_back(all);
  for (const Case& c : cases) CheckAgainstCpu(c, logits, 60000, 4096, 100);
}

TEST(ChooseTokensTest, SampledDrawsOnBloomsVocabulary) {
  BLOOM_SKIP_WITHOUT_GPU();
  const std::vector<float> logits = LmLikeLogits(250880, 2, 3.0f);
  Case c = Sampled("250,880: T 0.8, top_p 0.9");
  c.params.temperature = 0.8f;
  c.params.top_p = 0.9f;
  CheckAgainstCpu(c, logits, 8192, 256, 200);
  Case k = Sampled("250,880: top_k 50, typical 0.95");
  k.params.top_k = 50;
  k.params.typical_p = 0.95f;
  CheckAgainstCpu(k, logits, 8192, 256, 201);
}

TEST(ChooseTokensTest, EdgeSettingsBehaveAsTheCpuSampler) {
  BLOOM_SKIP_WITHOUT_GPU();
  const std::vector<float> logits = LmLikeLogits(1000, 3);
  Case k1 = Sampled("top_k 1");
  k1.params.top_k = 1;
  CheckAgainstCpu(k1, logits, 2000, 1000, 300);
  Case k_all = Sampled("top_k >= vocab (off)");
  k_all.params.top_k = 5000;
  CheckAgainstCpu(k_all, logits, 20000, 2000, 301);
  Case tiny_p = Sampled("top_p 1e-6 (only the max)");
  tiny_p.params.top_p = 1e-6f;
  CheckAgainstCpu(tiny_p, logits, 2000, 1000, 302);
  // Only two tokens live: everything else banned to -inf by the logits.
  std::vector<float> two(1000, -std::numeric_limits<float>::infinity());
  two[17] = 0.3f;
  two[900] = -0.4f;
  CheckAgainstCpu(Sampled("two live tokens"), two, 20000, 2000, 303);
}

TEST(ChooseTokensTest, GreedyRowsGiveTheArgmaxAndLogSoftmax) {
  BLOOM_SKIP_WITHOUT_GPU();
  const std::vector<float> logits = LmLikeLogits(250880, 4);
  std::vector<Case> cases(3);
  cases[0].name = "plain";
  cases[1].name = "penalty";
  cases[1].params.repetition_penalty = 4.0f;
  std::vector<int32_t> order(logits.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  std::partial_sort(order.begin(), order.begin() + 5, order.end(),
                    [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  cases[1].context = {order[0], order[1], order[0]};
  cases[2].name = "banned argmax";
  cases[2].banned_token = order[0];
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<int32_t> penalized;
    for (int32_t t : c.context) {
      if (std::find(penalized.begin(), penalized.end(), t) == penalized.end()) penalized.push_back(t);
    }
    std::vector<int32_t> ids;
    std::vector<float> logprobs;
    ASSERT_NO_FATAL_FAILURE(RunKernel(logits, {RowFor(c, 0.5, static_cast<int32_t>(penalized.size()))},
                                      penalized, ids, logprobs));
    const ChosenToken cpu = Sampler(c.params).Choose(logits, c.context, c.banned_token);
    EXPECT_EQ(ids[0], cpu.id);
    EXPECT_NEAR(logprobs[0], cpu.logprob, 1e-4);
  }
}

TEST(ChooseTokensTest, RowsOfDifferentSettingsInOneLaunchAreIndependent) {
  BLOOM_SKIP_WITHOUT_GPU();
  const std::vector<float> logits = LmLikeLogits(4096, 5);
  std::vector<Case> cases(4);
  cases[0].name = "greedy";
  cases[1] = Sampled("top_k 10");
  cases[1].params.top_k = 10;
  cases[2] = Sampled("top_p 0.8");
  cases[2].params.top_p = 0.8f;
  cases[3] = Sampled("T 3");
  cases[3].params.temperature = 3.0f;
  std::vector<std::vector<double>> dists;
  for (const Case& c : cases) dists.push_back(Sampler(c.params).Distribution(logits, {}, -1));
  std::mt19937_64 rng(6);
  std::vector<TokenChoiceRow> rows;
  std::vector<double> uniforms;
  for (int r = 0; r < 2000; ++r) {
    uniforms.push_back(static_cast<double>(rng() >> 11) * 0x1.0p-53);
    rows.push_back(RowFor(cases[r % 4], uniforms.back(), 0));
  }
  std::vector<int32_t> ids;
  std::vector<float> logprobs;
  ASSERT_NO_FATAL_FAILURE(RunKernel(logits, rows, {}, ids, logprobs));
  int mismatches = 0;
  for (int r = 0; r < 2000; ++r) mismatches += ids[r] != InverseCdf(dists[r % 4], uniforms[r]);
  EXPECT_LE(mismatches, 2);
}

}  // namespace
}  // namespace bloom
