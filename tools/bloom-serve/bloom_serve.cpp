// bloom-serve: an HTTP server over the continuous-batching engine, or with
// --batching=static over batches run to completion one at a time
// (docs/serving.md).
//
//   bloom-serve PLAN_DIR [--host=127.0.0.1] [--port=8080] [--backend=cpu|cuda] ...
//
// Threads: the HTTP server's pool parses requests, routes them to a
// replica, submits them and streams their results; each replica's engine
// thread runs WaitForWork and StepOnce; the main thread loads the model,
// --replicas copies of it (while /health answers 503), and then waits for
// SIGTERM or SIGINT, which a signal thread turns into a graceful shutdown:
// stop accepting, let in-flight requests finish on every replica within
// --grace-period (then cancel them), stop, exit 0. Under mpirun rank 0
// serves and the other ranks follow its steps (one replica only).
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "runtime/exec/weight_source.h"
#include "runtime/parallel/launcher_env.h"
#include "runtime/serve/executor_factory.h"
#include "runtime/serve/prompts.h"
#include "runtime/support/dtype.h"
#include "tools/bloom-serve/http_routes.h"

namespace bloom::serve_tool {
namespace {

int Fail(int code, const absl::Status& status) {
  std::fprintf(stderr, "bloom-serve: %s\n", std::string(status.message()).c_str());
  return code;
}

ModelFacts FactsOf(const LoadedPlan& loaded) {
  const plan::Plan& p = loaded.plan();
  ModelFacts f;
  f.vocab = p.tensors()->Get(TensorWithRole(p, plan::TensorRole::Logits))->shape()->Get(1);
  f.max_seq_len = p.limits()->max_seq_len();
  f.max_batch_tokens = p.limits()->max_batch_tokens();
  f.max_sequences = p.limits()->max_sequences();
  f.eos_token_id = p.eos_token_id();
  f.tp = std::max<int32_t>(1, p.tp_size());
  // The weights' storage dtype: that of the first tensor without a role
  // (step inputs and logits have roles; weights and activations do not).
  f.dtype = "unknown";
  for (const plan::Tensor* t : *p.tensors()) {
    if (t->role() == plan::TensorRole::None) {
      f.dtype = plan::EnumNameDType(t->dtype());
      break;
    }
  }
  return f;
}

// One replica: a full copy of the model on its backend (a rank or pipeline
// group when the plan is one), its engine and the engine's thread. Members
// end in reverse order: the thread (joined first), the engine, then the
// executor it steps.
struct Replica {
  serve::Backend backend;
  std::unique_ptr<Engine> engine;
  std::thread thread;
};

// The engine's thread: steps while there is work; a failed step has already
// ended the requests it affected, so the loop carries on.
void EngineLoop(Engine& engine, const std::atomic<bool>& stop) {
  while (!stop.load()) {
    if (!engine.WaitForWork(absl::Milliseconds(50))) continue;
    absl::StatusOr<bool> stepped = engine.StepOnce();
    if (!stepped.ok()) {
      std::fprintf(stderr, "bloom-serve: step failed: %s\n",
                   std::string(stepped.status().message()).c_str());
    }
  }
}

int Main(int argc, char** argv) {
  tools::CommandLine cl = MakeCommandLine();
  if (absl::Status s = cl.Parse(argc, argv); !s.ok()) return Fail(kExitUsage, s);
  if (cl.help_requested()) {
    std::fputs(cl.HelpText().c_str(), stdout);
    return kExitOk;
  }
  absl::StatusOr<ServeFlags> flags = ReadServeFlags(cl);
  if (!flags.ok()) return Fail(kExitUsage, flags.status());
  if (absl::Status s = serve::CheckBackendAvailable(flags->backend); !s.ok()) {
    return Fail(kExitUsage, s);
  }
  if (LaunchedByMpiLauncher() && flags->replicas > 1) {
    return Fail(kExitUsage,
                absl::InvalidArgumentError(
                    "--replicas: must be 1 under mpirun (its processes are one rank group); "
                    "start one server per group instead"));
  }
  if (LaunchedByMpiLauncher() && MpiLauncherRank() != 0) {
    return serve::RunMpiFollower(flags->backend, flags->plan_dir, flags->checkpoint_dir,
                                 {flags->cuda_collectives});
  }
  // SIGTERM and SIGINT go to the signal thread only; a closed connection
  // must not kill the process.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<LoadedPlan> plan = LoadedPlan::LoadOutputPlan(flags->plan_dir);
  if (!plan.ok()) return Fail(kExitFailure, plan.status());
  const ModelFacts facts = FactsOf(*plan);
  const std::string weights_dir = WeightsDirectory(plan->plan(), flags->checkpoint_dir);
  absl::StatusOr<Tokenizer> tokenizer =
      serve::LoadTokenizer(flags->tokenizer, flags->plan_dir, weights_dir);
  if (!tokenizer.ok()) return Fail(kExitFailure, tokenizer.status());
  ServerState state(*flags, facts, *std::move(tokenizer));

  httplib::Server server;
  const size_t threads = flags->http_threads;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  AddOpsRoutes(server, state);
  AddOpenAiRoutes(server, state);
  AddTgiRoutes(server, state);
  // The prebuilt cpp-httplib listens with a backlog of 5, so a burst of
  // more connections than that at once sees resets while its accept thread
  // catches up. Its socket hook hands over the listening socket, and
  // listening again once it is bound raises the backlog (Linux updates it
  // in place).
  int listen_socket = -1;
  server.set_socket_options([&listen_socket](socket_t sock) {
    httplib::default_socket_options(sock);
    listen_socket = sock;
  });
  int port = flags->port;
  if (port == 0) {
    port = server.bind_to_any_port(flags->host);
    if (port < 0) port = 0;
  } else if (!server.bind_to_port(flags->host, port)) {
    port = 0;
  }
  if (port == 0) {
    return Fail(kExitFailure, absl::UnavailableError(absl::StrCat("cannot listen on ", flags->host,
                                                                  ":", flags->port)));
  }
  if (listen_socket >= 0) ::listen(listen_socket, SOMAXCONN);
  std::fprintf(stderr, "bloom-serve: listening on http://%s:%d (loading the model)\n",
               flags->host.c_str(), port);
  std::thread http([&server] { server.listen_after_bind(); });

  std::mutex mu;
  std::condition_variable stop_cv;
  bool stop_requested = false;
  std::thread signals([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::lock_guard<std::mutex> lock(mu);
    stop_requested = true;
    stop_cv.notify_all();
  });
  signals.detach();  // it may wait forever when the process ends otherwise

  // Every replica is loaded before any serves: /health stays 503 until the
  // last one is ready.
  std::vector<Replica> replicas(flags->replicas);
  for (int32_t k = 0; k < flags->replicas; ++k) {
    absl::StatusOr<LoadedPlan> replica_plan =
        k == 0 ? std::move(plan) : LoadedPlan::LoadOutputPlan(flags->plan_dir);
    absl::StatusOr<serve::Backend> backend =
        replica_plan.ok() ? serve::CreateBackend(flags->backend, *std::move(replica_plan),
                                                 flags->plan_dir, flags->checkpoint_dir,
                                                 /*progress=*/false,
                                                 {flags->cuda_collectives, k, flags->replicas})
                          : absl::StatusOr<serve::Backend>(replica_plan.status());
    if (!backend.ok()) {
      server.stop();
      http.join();
      const absl::Status& failed = backend.status();
      return Fail(kExitFailure,
                  flags->replicas == 1
                      ? failed
                      : absl::Status(failed.code(), absl::StrCat("replica ", k, ": ",
                                                                 failed.message())));
    }
    if (k == 0 && backend->generated_weights_seed) {
      std::fprintf(stderr,
                   "bloom-serve: note: the weights are generated from seed %llu (a layout-only "
                   "synthetic checkpoint), not read from stored values\n",
                   static_cast<unsigned long long>(*backend->generated_weights_seed));
    }
    if (flags->replicas > 1) {
      std::fprintf(stderr, "bloom-serve: replica %d of %d loaded\n", k + 1, flags->replicas);
    }
    replicas[k].backend = *std::move(backend);
  }
  if (flags->static_batching) {
    const int32_t size = flags->static_batch_size > 0
                             ? std::min(flags->static_batch_size, facts.max_sequences)
                             : facts.max_sequences;
    std::fprintf(stderr, "bloom-serve: static batching: batches of %d, %s timeout\n", size,
                 absl::FormatDuration(flags->static_batch_timeout).c_str());
  }
  std::atomic<bool> stop_engines{false};
  std::vector<Engine*> engines;
  for (Replica& r : replicas) {
    EngineOptions options;
    options.greedy_step = r.backend.greedy_step;
    options.device_choice = r.backend.device_choice;
    options.max_waiting = flags->max_queue;
    options.on_step = [&state](const StepRecord& step) {
      state.metrics.RecordStep(step.ms / 1000, step.tokens, step.decode_tokens);
    };
    if (flags->static_batching) {
      options.admission = EngineOptions::Admission::kStaticBatch;
      options.static_batch_size = flags->static_batch_size;
      options.static_batch_timeout = flags->static_batch_timeout;
    }
    r.engine = std::make_unique<Engine>(*r.backend.executor, options);
    r.thread = std::thread([&stop_engines, engine = r.engine.get()] {
      EngineLoop(*engine, stop_engines);
    });
    engines.push_back(r.engine.get());
  }
  state.SetEngines(std::move(engines));
  const std::string replicas_note =
      flags->replicas > 1 ? absl::StrCat(" (", flags->replicas, " replicas)") : "";
  std::fprintf(stderr, "bloom-serve: ready on http://%s:%d%s\n", flags->host.c_str(), port,
               replicas_note.c_str());

  {
    std::unique_lock<std::mutex> lock(mu);
    stop_cv.wait(lock, [&] { return stop_requested; });
  }
  std::fprintf(stderr, "bloom-serve: stopping: finishing %lld in-flight requests\n",
               static_cast<long long>(state.in_flight()));
  state.draining.store(true);
  if (!state.WaitIdle(absl::Now() + flags->grace_period)) {
    std::fprintf(stderr, "bloom-serve: grace period over: cancelling %lld requests\n",
                 static_cast<long long>(state.in_flight()));
    state.CancelAll("shutdown");
    state.WaitIdle(absl::Now() + absl::Seconds(10));
  }
  server.stop();
  http.join();
  stop_engines.store(true);
  for (Replica& r : replicas) r.thread.join();
  replicas.clear();  // each engine, then its executor
  std::fprintf(stderr, "bloom-serve: stopped\n");
  return kExitOk;
}

}  // namespace
}  // namespace bloom::serve_tool

int main(int argc, char** argv) { return bloom::serve_tool::Main(argc, argv); }
