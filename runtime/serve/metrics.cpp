#include "runtime/serve/metrics.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace bloom::serve {
namespace {

// Prometheus floats: 15 significant digits, enough for seconds and ratios
// and free of binary noise ("0.1", not "0.10000000000000001").
std::string Number(double v) { return absl::StrFormat("%.15g", v); }

void Header(std::string& out, const std::string& name, const char* type, const char* help) {
  absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

// A replica's series: `name{replica="i"} value`.
std::string ReplicaLine(const std::string& name, size_t replica, const std::string& value) {
  return absl::StrCat(name, "{replica=\"", replica, "\"} ", value, "\n");
}

}  // namespace

EngineGauges SumGauges(const std::vector<EngineGauges>& engines) {
  EngineGauges total;
  for (const EngineGauges& g : engines) {
    total.running += g.running;
    total.waiting += g.waiting;
    total.preemptions += g.preemptions;
    total.free_kv_blocks += g.free_kv_blocks;
    total.kv_blocks += g.kv_blocks;
  }
  total.kv_cache_usage =
      total.kv_blocks > 0
          ? 1.0 - static_cast<double>(total.free_kv_blocks) / static_cast<double>(total.kv_blocks)
          : 0.0;
  return total;
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  // The first bucket whose bound is >= value ("le": less or equal).
  const size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  ++counts_[bucket];
  sum_ += value;
  ++count_;
}

std::string Histogram::Render(const std::string& name) const {
  std::string out;
  int64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    absl::StrAppend(&out, name, "_bucket{le=\"", Number(bounds_[i]), "\"} ", cumulative, "\n");
  }
  absl::StrAppend(&out, name, "_bucket{le=\"+Inf\"} ", count_, "\n");
  absl::StrAppend(&out, name, "_sum ", Number(sum_), "\n");
  absl::StrAppend(&out, name, "_count ", count_, "\n");
  return out;
}

// vLLM's buckets for the same histograms (seconds).
ServeMetrics::ServeMetrics(int32_t replicas)
    : queue_time_({0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60}),
      ttft_({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}),
      inter_token_(
          {0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5}),
      e2e_({0.01, 0.05, 0.1, 0.3, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 40, 50, 60}),
      replicas_(std::max<int32_t>(1, replicas)) {}

void ServeMetrics::RecordRouted(int32_t replica) {
  std::lock_guard<std::mutex> lock(mu_);
  if (replica >= 0 && replica < static_cast<int32_t>(replicas_.size())) ++replicas_[replica].routed;
}

void ServeMetrics::RecordFinished(const std::string& reason, int64_t prompt_tokens,
                                  int64_t generated_tokens, double queue_s, double ttft_s,
                                  double e2e_s, const std::vector<double>& inter_token_s,
                                  int32_t replica) {
  std::lock_guard<std::mutex> lock(mu_);
  if (replica >= 0 && replica < static_cast<int32_t>(replicas_.size())) {
    ++replicas_[replica].succeeded;
    replicas_[replica].generated_tokens += generated_tokens;
  }
  prompt_tokens_ += prompt_tokens;
  generated_tokens_ += generated_tokens;
  ++finished_[reason];
  queue_time_.Observe(queue_s);
  // A request that generated nothing has no first token.
  if (generated_tokens > 0) ttft_.Observe(ttft_s);
  for (double gap : inter_token_s) inter_token_.Observe(gap);
  e2e_.Observe(e2e_s);
}

void ServeMetrics::RecordFailed(const std::string& cause, int32_t replica) {
  std::lock_guard<std::mutex> lock(mu_);
  ++failed_[cause];
  if (replica >= 0 && replica < static_cast<int32_t>(replicas_.size())) ++replicas_[replica].failed;
}

void ServeMetrics::RecordStep(double seconds, int64_t tokens, int64_t decode_tokens) {
  const char* kind = decode_tokens == 0 ? "prefill" : decode_tokens == tokens ? "decode" : "mixed";
  std::lock_guard<std::mutex> lock(mu_);
  StepTotals& t = steps_[kind];
  ++t.steps;
  t.seconds += seconds;
  t.tokens += tokens;
}

std::string ServeMetrics::Render(const EngineGauges& gauges,
                                 const std::vector<EngineGauges>& replicas) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  Header(out, "bloom:num_requests_running", "gauge", "Requests holding a KV-cache slot.");
  absl::StrAppend(&out, "bloom:num_requests_running ", gauges.running, "\n");
  Header(out, "bloom:num_requests_waiting", "gauge", "Requests waiting for admission.");
  absl::StrAppend(&out, "bloom:num_requests_waiting ", gauges.waiting, "\n");
  Header(out, "bloom:kv_cache_usage_perc", "gauge", "Fraction of KV-cache blocks in use (0 to 1).");
  absl::StrAppend(&out, "bloom:kv_cache_usage_perc ", Number(gauges.kv_cache_usage), "\n");
  Header(out, "bloom:num_preemptions_total", "counter",
         "Sequences preempted (blocks freed, recomputed later).");
  absl::StrAppend(&out, "bloom:num_preemptions_total ", gauges.preemptions, "\n");
  Header(out, "bloom:prompt_tokens_total", "counter", "Prompt tokens of finished requests.");
  absl::StrAppend(&out, "bloom:prompt_tokens_total ", prompt_tokens_, "\n");
  Header(out, "bloom:generation_tokens_total", "counter", "Tokens generated by finished requests.");
  absl::StrAppend(&out, "bloom:generation_tokens_total ", generated_tokens_, "\n");
  Header(out, "bloom:request_success_total", "counter", "Requests finished, by finish reason.");
  for (const auto& [reason, n] : finished_) {
    absl::StrAppend(&out, "bloom:request_success_total{finished_reason=\"", reason, "\"} ", n,
                    "\n");
  }
  Header(out, "bloom:request_failure_total", "counter", "Requests that failed, by cause.");
  for (const auto& [cause, n] : failed_) {
    absl::StrAppend(&out, "bloom:request_failure_total{cause=\"", cause, "\"} ", n, "\n");
  }
  Header(out, "bloom:request_queue_time_seconds", "histogram",
         "Time from submission to first admission.");
  out += queue_time_.Render("bloom:request_queue_time_seconds");
  Header(out, "bloom:time_to_first_token_seconds", "histogram",
         "Time from submission to the first generated token.");
  out += ttft_.Render("bloom:time_to_first_token_seconds");
  Header(out, "bloom:inter_token_latency_seconds", "histogram",
         "Time between consecutive generated tokens of a request.");
  out += inter_token_.Render("bloom:inter_token_latency_seconds");
  Header(out, "bloom:e2e_request_latency_seconds", "histogram",
         "Time from submission to the end of a request.");
  out += e2e_.Render("bloom:e2e_request_latency_seconds");
  Header(out, "bloom:engine_steps_total", "counter",
         "Engine steps, by kind: decode (decode tokens only), prefill, mixed.");
  for (const auto& [kind, t] : steps_) {
    absl::StrAppend(&out, "bloom:engine_steps_total{kind=\"", kind, "\"} ", t.steps, "\n");
  }
  Header(out, "bloom:engine_step_seconds_total", "counter", "Time in engine steps, by kind.");
  for (const auto& [kind, t] : steps_) {
    absl::StrAppend(&out, "bloom:engine_step_seconds_total{kind=\"", kind, "\"} ",
                    Number(t.seconds), "\n");
  }
  Header(out, "bloom:engine_step_tokens_total", "counter", "Tokens run by engine steps, by kind.");
  for (const auto& [kind, t] : steps_) {
    absl::StrAppend(&out, "bloom:engine_step_tokens_total{kind=\"", kind, "\"} ", t.tokens,
                    "\n");
  }
  // Per replica (bloom-serve --replicas): each engine's gauges, and the
  // requests routed to it; summed over replicas they give the totals above.
  Header(out, "bloom:num_replicas", "gauge", "Engines requests are routed to.");
  absl::StrAppend(&out, "bloom:num_replicas ", replicas_.size(), "\n");
  struct GaugeSeries {
    const char* name;
    const char* type;
    const char* help;
    std::string (*value)(const EngineGauges&);
  };
  static const GaugeSeries kGauges[] = {
      {"bloom:replica_num_requests_running", "gauge", "A replica's requests holding a KV slot.",
       [](const EngineGauges& g) { return absl::StrCat(g.running); }},
      {"bloom:replica_num_requests_waiting", "gauge", "A replica's requests waiting for admission.",
       [](const EngineGauges& g) { return absl::StrCat(g.waiting); }},
      {"bloom:replica_kv_cache_usage_perc", "gauge",
       "Fraction of a replica's KV-cache blocks in use (0 to 1).",
       [](const EngineGauges& g) { return Number(g.kv_cache_usage); }},
      {"bloom:replica_kv_blocks_free", "gauge", "A replica's free KV-cache blocks.",
       [](const EngineGauges& g) { return absl::StrCat(g.free_kv_blocks); }},
      {"bloom:replica_num_preemptions_total", "counter", "A replica's preempted sequences.",
       [](const EngineGauges& g) { return absl::StrCat(g.preemptions); }},
  };
  for (const GaugeSeries& series : kGauges) {
    if (replicas.empty()) break;
    Header(out, series.name, series.type, series.help);
    for (size_t i = 0; i < replicas.size(); ++i) {
      out += ReplicaLine(series.name, i, series.value(replicas[i]));
    }
  }
  struct CounterSeries {
    const char* name;
    const char* help;
    int64_t ReplicaTotals::*field;
  };
  static const CounterSeries kCounters[] = {
      {"bloom:replica_requests_total", "Requests routed to a replica (accepted by its engine).",
       &ReplicaTotals::routed},
      {"bloom:replica_request_success_total", "A replica's requests that ran to their end.",
       &ReplicaTotals::succeeded},
      {"bloom:replica_request_failure_total",
       "A replica's requests that were cancelled or failed there.", &ReplicaTotals::failed},
      {"bloom:replica_generation_tokens_total", "Tokens generated by a replica's finished requests.",
       &ReplicaTotals::generated_tokens},
  };
  for (const CounterSeries& series : kCounters) {
    Header(out, series.name, "counter", series.help);
    for (size_t i = 0; i < replicas_.size(); ++i) {
      out += ReplicaLine(series.name, i, absl::StrCat(replicas_[i].*series.field));
    }
  }
  return out;
}

}  // namespace bloom::serve
