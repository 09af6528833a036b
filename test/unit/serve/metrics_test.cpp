// /metrics against text derived by hand from Prometheus' exposition format:
// gauges, labelled counters and cumulative histogram buckets.
#include "runtime/serve/metrics.h"

#include <gtest/gtest.h>

#include <thread>

namespace bloom::serve {
namespace {

TEST(HistogramTest, BucketsAreCumulativeAndInclusive) {
  Histogram h({0.1, 1});
  h.Observe(0.1);  // le="0.1" holds values equal to the bound
  h.Observe(0.5);
  h.Observe(3);
  EXPECT_EQ(h.Render("x"),
            "x_bucket{le=\"0.1\"} 1\n"
            "x_bucket{le=\"1\"} 2\n"
            "x_bucket{le=\"+Inf\"} 3\n"
            "x_sum 3.6\n"
            "x_count 3\n");
}

bool Contains(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(ServeMetricsTest, RendersGaugesCountersAndHistograms) {
  ServeMetrics m;
  m.RecordFinished("length", 4, 3, 0.002, 0.02, 0.5, {0.03, 0.2});
  m.RecordFinished("eos", 6, 0, 0.5, 0, 0.6, {});
  m.RecordFailed("overloaded");
  m.RecordFailed("overloaded");
  const std::string text = m.Render({2, 1, 0.25, 3});
  EXPECT_TRUE(Contains(text, "# TYPE bloom:num_requests_running gauge"));
  EXPECT_TRUE(Contains(text, "bloom:num_requests_running 2"));
  EXPECT_TRUE(Contains(text, "bloom:num_requests_waiting 1"));
  EXPECT_TRUE(Contains(text, "bloom:kv_cache_usage_perc 0.25"));
  EXPECT_TRUE(Contains(text, "bloom:num_preemptions_total 3"));
  EXPECT_TRUE(Contains(text, "bloom:prompt_tokens_total 10"));
  EXPECT_TRUE(Contains(text, "bloom:generation_tokens_total 3"));
  EXPECT_TRUE(Contains(text, "bloom:request_success_total{finished_reason=\"eos\"} 1"));
  EXPECT_TRUE(Contains(text, "bloom:request_success_total{finished_reason=\"length\"} 1"));
  EXPECT_TRUE(Contains(text, "bloom:request_failure_total{cause=\"overloaded\"} 2"));
  EXPECT_TRUE(Contains(text, "# TYPE bloom:time_to_first_token_seconds histogram"));
  // Queue times 0.002 and 0.5: buckets 0.005 and 0.5 hold 1 and 2.
  EXPECT_TRUE(Contains(text, "bloom:request_queue_time_seconds_bucket{le=\"0.001\"} 0"));
  EXPECT_TRUE(Contains(text, "bloom:request_queue_time_seconds_bucket{le=\"0.005\"} 1"));
  EXPECT_TRUE(Contains(text, "bloom:request_queue_time_seconds_bucket{le=\"0.5\"} 2"));
  EXPECT_TRUE(Contains(text, "bloom:request_queue_time_seconds_count 2"));
  // Only the request with a token has a time to first token.
  EXPECT_TRUE(Contains(text, "bloom:time_to_first_token_seconds_count 1"));
  EXPECT_TRUE(Contains(text, "bloom:time_to_first_token_seconds_bucket{le=\"0.02\"} 1"));
  EXPECT_TRUE(Contains(text, "bloom:inter_token_latency_seconds_count 2"));
  EXPECT_TRUE(Contains(text, "bloom:inter_token_latency_seconds_sum 0.23"));
  EXPECT_TRUE(Contains(text, "bloom:e2e_request_latency_seconds_bucket{le=\"0.5\"} 1"));
  EXPECT_TRUE(Contains(text, "bloom:e2e_request_latency_seconds_bucket{le=\"1\"} 2"));
}

TEST(ServeMetricsTest, StepsAreCountedByKind) {
  ServeMetrics m;
  m.RecordStep(0.010, 64, 64);   // decode
  m.RecordStep(0.015, 64, 64);   // decode
  m.RecordStep(0.250, 2048, 0);  // prefill
  m.RecordStep(0.125, 2048, 40);  // mixed
  const std::string text = m.Render({});
  EXPECT_TRUE(Contains(text, "# TYPE bloom:engine_steps_total counter"));
  EXPECT_TRUE(Contains(text, "bloom:engine_steps_total{kind=\"decode\"} 2"));
  EXPECT_TRUE(Contains(text, "bloom:engine_steps_total{kind=\"prefill\"} 1"));
  EXPECT_TRUE(Contains(text, "bloom:engine_steps_total{kind=\"mixed\"} 1"));
  EXPECT_TRUE(Contains(text, "bloom:engine_step_seconds_total{kind=\"decode\"} 0.025"));
  EXPECT_TRUE(Contains(text, "bloom:engine_step_seconds_total{kind=\"mixed\"} 0.125"));
  EXPECT_TRUE(Contains(text, "bloom:engine_step_tokens_total{kind=\"decode\"} 128"));
  EXPECT_TRUE(Contains(text, "bloom:engine_step_tokens_total{kind=\"prefill\"} 2048"));
}

TEST(ServeMetricsTest, CountsFromManyThreadsAddUp) {
  ServeMetrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 250; ++i) m.RecordFinished("stop", 1, 2, 0, 0.01, 0.1, {0.01});
    });
  }
  for (std::thread& t : threads) t.join();
  const std::string text = m.Render({});
  EXPECT_TRUE(Contains(text, "bloom:request_success_total{finished_reason=\"stop\"} 1000"));
  EXPECT_TRUE(Contains(text, "bloom:generation_tokens_total 2000"));
  EXPECT_TRUE(Contains(text, "bloom:inter_token_latency_seconds_count 1000"));
}

}  // namespace
}  // namespace bloom::serve
