// The operations routes (/health, /info, /metrics), /v1/models, and the
// JSON answers for an unknown route (404) or a known route with the wrong
// method (405).
#include "nlohmann/json.hpp"
#include "runtime/serve/openai_api.h"
#include "runtime/serve/tgi_api.h"
#include "tools/bloom-serve/http_routes.h"

namespace bloom::serve_tool {
namespace {

serve::EngineGauges GaugesOf(const EngineCounters& c) {
  serve::EngineGauges g;
  g.running = c.running;
  g.waiting = c.waiting;
  g.preemptions = c.preemptions;
  g.free_kv_blocks = c.free_kv_blocks;
  g.kv_blocks = c.kv_blocks;
  g.kv_cache_usage =
      c.kv_blocks > 0 ? 1.0 - static_cast<double>(c.free_kv_blocks) / c.kv_blocks : 0.0;
  return g;
}

}  // namespace

void AddOpsRoutes(httplib::Server& server, ServerState& state) {
  // Ready once every replica's engine is (they are loaded before any
  // serves, so there is no partly ready state to report).
  server.Get("/health", [&state](const httplib::Request&, httplib::Response& res) {
    const bool ready = state.ready();
    nlohmann::ordered_json j;
    j["status"] = ready ? "ok" : "loading";
    j["replicas"] = state.flags.replicas;
    SendJson(res, ready ? 200 : 503, j.dump());
  });
  server.Get("/info", [&state](const httplib::Request&, httplib::Response& res) {
    nlohmann::ordered_json j;
    j["model_id"] = state.flags.model_name;
    j["model_dtype"] = state.facts.dtype;
    j["backend"] = state.flags.backend;
    j["tp"] = state.facts.tp;
    j["replicas"] = state.flags.replicas;
    j["max_input_length"] = state.facts.max_seq_len;
    j["max_total_tokens"] = state.facts.max_seq_len;
    j["max_batch_total_tokens"] = state.facts.max_batch_tokens;
    j["max_concurrent_requests"] = state.facts.max_sequences;
    j["max_waiting_requests"] = state.flags.max_queue;
    j["version"] = BLOOM_VERSION;
    SendJson(res, 200, j.dump());
  });
  // The totals keep their single-engine names (summed over replicas); the
  // bloom:replica_* series give each engine's share.
  server.Get("/metrics", [&state](const httplib::Request&, httplib::Response& res) {
    std::vector<serve::EngineGauges> replicas;
    if (state.ready()) {
      for (Engine* e : state.engines()) replicas.push_back(GaugesOf(e->counters()));
    }
    res.set_content(state.metrics.Render(serve::SumGauges(replicas), replicas),
                    "text/plain; version=0.0.4");
  });
  server.Get("/v1/models", [&state](const httplib::Request&, httplib::Response& res) {
    SendJson(res, 200, serve::ModelsBody(state.flags.model_name, state.started_unix));
  });

  // Known routes with the wrong method: 405 with Allow.
  auto wrong_method = [](const char* allow) {
    return [allow](const httplib::Request& req, httplib::Response& res) {
      SendJson(res, 405,
               serve::TgiErrorBody(
                   absl::InvalidArgumentError(req.method + " " + req.path +
                                              ": method not allowed (use " + allow + ")"),
                   "method_not_allowed"));
      res.set_header("Allow", allow);
    };
  };
  for (const char* path : {"/v1/completions", "/generate", "/generate_stream"}) {
    server.Get(path, wrong_method("POST"));
  }
  for (const char* path : {"/health", "/info", "/metrics", "/v1/models"}) {
    server.Post(path, wrong_method("GET"));
  }
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status != 404 || !res.body.empty()) return;
    SendJson(res, 404,
             serve::TgiErrorBody(absl::NotFoundError(req.path + ": no such route"), "not_found"));
  });
}

}  // namespace bloom::serve_tool
