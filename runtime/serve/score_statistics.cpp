#include "runtime/serve/score_statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace bloom::serve {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The standard error of a mean of n values with these means of x and x^2.
double ErrorOfMean(int64_t n, double mean, double mean_sq) {
  if (n < 2) return kNaN;
  return std::sqrt(std::max(mean_sq - mean * mean, 0.0) / static_cast<double>(n - 1));
}

}  // namespace

PerplexityEstimate NllStats::Estimate() const {
  PerplexityEstimate e;
  e.count = count_;
  if (count_ == 0) return {0, kNaN, kNaN, kNaN};
  const double n = static_cast<double>(count_);
  e.nll_mean = sum_ / n;
  e.ppl = std::exp(e.nll_mean);
  e.ppl_stderr = e.ppl * ErrorOfMean(count_, e.nll_mean, sum_sq_ / n);
  return e;
}

void KlStats::Add(double kl, bool same_top1, double nll, double base_nll) {
  kl_.push_back(kl);
  kl_sum_ += kl;
  kl_sum_sq_ += kl * kl;
  same_top1_ += same_top1 ? 1 : 0;
  run_.Add(nll);
  base_.Add(base_nll);
  cross_sum_ += nll * base_nll;
}

double Percentile(const std::vector<double>& sorted, double fraction) {
  const double at = fraction * static_cast<double>(sorted.size() - 1);
  const size_t low = static_cast<size_t>(at);
  const size_t high = std::min(low + 1, sorted.size() - 1);
  const double t = at - static_cast<double>(low);
  return (1 - t) * sorted[low] + t * sorted[high];
}

KlReport KlStats::Report() const {
  KlReport r;
  r.count = count();
  r.run = run_.Estimate();
  r.base = base_.Estimate();
  if (kl_.empty()) return r;
  const double n = static_cast<double>(r.count);
  r.kl_mean = kl_sum_ / n;
  r.kl_stderr = ErrorOfMean(r.count, r.kl_mean, kl_sum_sq_ / n);
  std::vector<double> sorted = kl_;
  std::sort(sorted.begin(), sorted.end());
  r.kl_median = Percentile(sorted, 0.5);
  r.kl_p90 = Percentile(sorted, 0.90);
  r.kl_p95 = Percentile(sorted, 0.95);
  r.kl_p99 = Percentile(sorted, 0.99);
  r.kl_min = sorted.front();
  r.kl_max = sorted.back();
  r.same_top1 = static_cast<double>(same_top1_) / n;
  r.same_top1_stderr = r.count < 2 ? kNaN : std::sqrt(r.same_top1 * (1 - r.same_top1) / (n - 1));

  // Errors of the two mean NLLs and their covariance (of the means).
  const double run_err = r.run.ppl_stderr / r.run.ppl, base_err = r.base.ppl_stderr / r.base.ppl;
  const double cov =
      r.count < 2 ? kNaN : (cross_sum_ / n - r.run.nll_mean * r.base.nll_mean) / (n - 1);
  r.ln_ppl_ratio = r.run.nll_mean - r.base.nll_mean;
  r.ln_ppl_ratio_stderr =
      std::sqrt(std::max(run_err * run_err + base_err * base_err - 2 * cov, 0.0));
  r.delta_ppl = r.run.ppl - r.base.ppl;
  r.delta_ppl_stderr = std::sqrt(std::max(r.run.ppl_stderr * r.run.ppl_stderr +
                                              r.base.ppl_stderr * r.base.ppl_stderr -
                                              2 * r.run.ppl * r.base.ppl * cov,
                                          0.0));
  if (r.count < 2) r.ln_ppl_ratio_stderr = r.delta_ppl_stderr = kNaN;
  return r;
}

}  // namespace bloom::serve
