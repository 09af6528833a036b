// The summaries llama.cpp's llama-perplexity reports, from per-token
// scores: perplexity with its standard error, and the KL-divergence
// statistics of a run against a base (mean, its error, percentiles, top-1
// agreement, the two perplexities and their difference).
//
// Standard errors are llama.cpp's: of a mean of n values x,
// sqrt((mean(x^2) - mean(x)^2) / (n - 1)); PPL = exp(mean NLL) carries
// PPL times the error of the mean NLL. They are NaN for fewer than 2 values.
#pragma once

#include <cstdint>
#include <vector>

namespace bloom::serve {

struct PerplexityEstimate {
  int64_t count = 0;
  double nll_mean = 0;
  double ppl = 0;
  double ppl_stderr = 0;
};

// The running sums of scored tokens' NLLs.
class NllStats {
 public:
  void Add(double nll) {
    ++count_;
    sum_ += nll;
    sum_sq_ += nll * nll;
  }
  int64_t count() const { return count_; }
  PerplexityEstimate Estimate() const;

 private:
  int64_t count_ = 0;
  double sum_ = 0, sum_sq_ = 0;
};

struct KlReport {
  int64_t count = 0;
  double kl_mean = 0, kl_stderr = 0;
  // Percentiles with linear interpolation between order statistics (as
  // llama.cpp and numpy's default): the median is the 50th.
  double kl_median = 0, kl_p90 = 0, kl_p95 = 0, kl_p99 = 0, kl_max = 0, kl_min = 0;
  double same_top1 = 0, same_top1_stderr = 0;  // fractions in [0, 1]
  PerplexityEstimate run, base;
  // PPL(run) - PPL(base), and the mean of ln(PPL(run)/PPL(base)) (the mean
  // NLL difference), with errors from the tokens' paired NLLs (their
  // covariance counted, as llama.cpp does).
  double delta_ppl = 0, delta_ppl_stderr = 0;
  double ln_ppl_ratio = 0, ln_ppl_ratio_stderr = 0;
};

// Per-token values of a run against a base.
class KlStats {
 public:
  void Add(double kl, bool same_top1, double nll, double base_nll);
  int64_t count() const { return static_cast<int64_t>(kl_.size()); }
  KlReport Report() const;

 private:
  std::vector<double> kl_;
  double kl_sum_ = 0, kl_sum_sq_ = 0;
  int64_t same_top1_ = 0;
  NllStats run_, base_;
  double cross_sum_ = 0;  // sum of nll * base_nll
};

// The `fraction` percentile of ascending `sorted` (not empty), linearly
// interpolated: sorted[f*(n-1)] between its neighbours.
double Percentile(const std::vector<double>& sorted, double fraction);

}  // namespace bloom::serve
