// bloom-serve's /metrics in Prometheus' text exposition format (version
// 0.0.4): gauges of the engine's state (requests running and waiting, the
// KV cache's usage ratio), counters (preemptions, prompt and generated
// tokens, requests finished by reason and failed by cause) and histograms
// of queue time, time to first token, inter-token latency and end-to-end
// latency, in seconds, under vLLM's names with a "bloom:" prefix, and the
// engine's steps by kind (bloom:engine_step*). With several engines
// (bloom-serve --replicas) those series are totals over them, and
// bloom:replica_* series with a replica="i" label give each engine's
// gauges and the requests routed to it. Every method may be called from
// any thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace bloom::serve {

// A cumulative histogram: counts per upper bound ("le"), then +Inf.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);
  // The _bucket, _sum and _count lines of `name`.
  std::string Render(const std::string& name) const;

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;  // per bucket (not cumulative); last: +Inf
  double sum_ = 0;
  int64_t count_ = 0;
};

// The engine's state at the moment /metrics is read.
struct EngineGauges {
  int64_t running = 0;
  int64_t waiting = 0;
  double kv_cache_usage = 0;  // used blocks / all blocks, in [0, 1]
  int64_t preemptions = 0;    // since start (a counter the engine keeps)
  int64_t free_kv_blocks = 0;
  int64_t kv_blocks = 0;  // the KV pool's size
};

// The totals of several engines' gauges: counts summed, the KV usage over
// all their blocks together.
EngineGauges SumGauges(const std::vector<EngineGauges>& engines);

class ServeMetrics {
 public:
  // `replicas`: the engines requests are routed to (at least 1).
  explicit ServeMetrics(int32_t replicas = 1);

  // A request handed to engine `replica` (one it accepted).
  void RecordRouted(int32_t replica);
  // One request that ran to its end on engine `replica` (`reason`: "stop",
  // "length", "eos", "cancelled"), with its times in seconds and the gaps
  // between its tokens.
  void RecordFinished(const std::string& reason, int64_t prompt_tokens, int64_t generated_tokens,
                      double queue_s, double ttft_s, double e2e_s,
                      const std::vector<double>& inter_token_s, int32_t replica = 0);
  // One request that failed, by cause ("invalid_request", "overloaded",
  // "timeout", "client_disconnected", ...); `replica`: the engine that held
  // it, or -1 for one refused before any engine took it.
  void RecordFailed(const std::string& cause, int32_t replica = -1);

  // One engine step: its time, its tokens, and how many of them were
  // decode tokens. Counted by kind: "decode" (every token a decode token,
  // the kind a backend may replay as a captured graph), "prefill" (no
  // decode token) and "mixed" (prompt chunks beside decode tokens), so
  // that a dashboard (or a benchmark) can tell where the engine's time goes.
  void RecordStep(double seconds, int64_t tokens, int64_t decode_tokens);

  // `gauges`: the totals over the engines; `replicas`: each engine's, in
  // replica order (empty: no per-replica gauges). The per-replica counters
  // are rendered for every replica.
  std::string Render(const EngineGauges& gauges,
                     const std::vector<EngineGauges>& replicas = {}) const;

 private:
  mutable std::mutex mu_;
  int64_t prompt_tokens_ = 0;
  int64_t generated_tokens_ = 0;
  std::map<std::string, int64_t> finished_;
  std::map<std::string, int64_t> failed_;
  Histogram queue_time_, ttft_, inter_token_, e2e_;
  struct StepTotals {
    int64_t steps = 0;
    double seconds = 0;
    int64_t tokens = 0;
  };
  std::map<std::string, StepTotals> steps_;  // by kind
  // Per replica: requests routed to it and how they ended, and their tokens.
  struct ReplicaTotals {
    int64_t routed = 0;
    int64_t succeeded = 0;
    int64_t failed = 0;
    int64_t generated_tokens = 0;
  };
  std::vector<ReplicaTotals> replicas_;
};

}  // namespace bloom::serve
