// Tests the long-lived engine (submissions at any time, cancels, steps one
// at a time) on the context-hashing fake step function, whose logits depend
// on each token's whole context, so a slip in slots, positions, chunking or
// KV bookkeeping changes the tokens. References, all outside the engine: a
// naive greedy loop over the same logits (NaiveGreedy), the single-sequence
// generator (GenerateGreedy), and runs of the same requests without the
// request that is cancelled, arrives late or is preempted.
#include "runtime/serve/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "runtime/serve/scheduler.h"
#include "test/support/generator.h"
#include "test/unit/runtime/context_hash_executor.h"
#include "test/unit/runtime/reference_token_choice.h"

namespace bloom {
namespace {

using testing::ContextHashExecutor;
using testing::NaiveGreedy;

// Records what the engine hands one request.
class CollectingSink : public RequestSink {
 public:
  bool OnToken(int32_t token, float /*logprob*/) override {
    tokens.push_back(token);
    return on_token ? on_token(token) : false;
  }
  void OnFinish(absl::StatusOr<GenerationOutcome> outcome) override {
    ++finishes;
    result = std::move(outcome);
    finished.store(true);
  }

  std::function<bool(int32_t)> on_token;
  std::vector<int32_t> tokens;
  int finishes = 0;
  std::optional<absl::StatusOr<GenerationOutcome>> result;
  std::atomic<bool> finished{false};
};

std::vector<int32_t> Prompt(int length, int seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> p(length);
  for (int32_t& t : p) t = std::uniform_int_distribution<int32_t>(0, testing::kVocab - 1)(rng);
  return p;
}

GenerationRequest Greedy(int prompt_length, int seed, int max_new_tokens) {
  GenerationRequest r;
  r.prompt = Prompt(prompt_length, seed);
  r.max_new_tokens = max_new_tokens;
  return r;
}

// The outcome a sink got, after checking the sink heard exactly once and
// that the streamed tokens are the outcome's.
GenerationOutcome OutcomeOf(const CollectingSink& sink) {
  EXPECT_EQ(sink.finishes, 1);
  if (!sink.result.has_value() || !sink.result->ok()) {
    ADD_FAILURE() << "no outcome: "
                  << (sink.result.has_value() ? sink.result->status().ToString() : "none");
    return {};
  }
  EXPECT_EQ(sink.tokens, (*sink.result)->tokens);
  return **sink.result;
}

// One StepOnce that must succeed; whether it stepped.
bool StepOk(Engine& engine) {
  absl::StatusOr<bool> stepped = engine.StepOnce();
  EXPECT_TRUE(stepped.ok()) << stepped.status();
  return stepped.ok() && *stepped;
}

// Steps until there is nothing left; returns the steps that ran.
int RunUntilIdle(Engine& engine) {
  int steps = 0;
  while (true) {
    absl::StatusOr<bool> stepped = engine.StepOnce();
    EXPECT_TRUE(stepped.ok()) << stepped.status();
    if (!stepped.ok() || !*stepped) return steps;
    ++steps;
  }
}

class EngineTest : public ::testing::Test {
 protected:
  void MakePlan(int32_t max_batch_tokens, int32_t max_logit_rows, int32_t max_sequences) {
    auto plan = testing::MakeLimitsPlan(max_batch_tokens, max_logit_rows, max_sequences);
    ASSERT_TRUE(plan.ok()) << plan.status();
    plan_ = std::make_unique<LoadedPlan>(*std::move(plan));
  }
  std::unique_ptr<ContextHashExecutor> MakeExecutor(int32_t num_blocks = 0) {
    return testing::MakeContextHashExecutor(*plan_, num_blocks);
  }
  // The requests' outcomes from the closed-batch path on a fresh executor.
  std::vector<GenerationOutcome> ClosedBatch(const std::vector<GenerationRequest>& requests,
                                             int32_t num_blocks = 0) {
    auto executor = MakeExecutor(num_blocks);
    auto outcomes = Scheduler(*executor).Run(requests);
    EXPECT_TRUE(outcomes.ok()) << outcomes.status();
    return outcomes.ok() ? *outcomes : std::vector<GenerationOutcome>{};
  }

  std::unique_ptr<LoadedPlan> plan_;
};

TEST_F(EngineTest, SubmissionsFromAnotherThreadWhileStepsRun) {
  MakePlan(8, 4, 3);
  auto executor = MakeExecutor();
  Engine engine(*executor);
  constexpr int kLate = 5;  // requests submitted while steps 1..kLate run
  std::vector<GenerationRequest> requests;
  for (int i = 0; i <= kLate; ++i) requests.push_back(Greedy(3 + 2 * i, 500 + i, 12 - i));
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  for (int i = 0; i <= kLate; ++i) sinks.push_back(std::make_shared<CollectingSink>());

  // Step k (k <= kLate) waits inside the step function until request k has
  // been submitted, so every late Submit runs while a step is running.
  std::mutex mu;
  std::condition_variable cv;
  int steps_entered = 0, submitted = 0;
  bool rendezvous_timed_out = false;
  executor->before_step = [&] {
    std::unique_lock<std::mutex> lock(mu);
    const int step = ++steps_entered;
    cv.notify_all();
    if (step <= kLate &&
        !cv.wait_for(lock, std::chrono::seconds(10), [&] { return submitted >= step; })) {
      rendezvous_timed_out = true;
    }
  };
  ASSERT_TRUE(engine.Submit(requests[0], sinks[0]).ok());

  std::atomic<bool> stop{false};
  std::thread engine_thread([&] {
    while (!stop.load()) {
      if (!engine.WaitForWork(absl::Milliseconds(5))) continue;
      absl::StatusOr<bool> stepped = engine.StepOnce();
      if (!stepped.ok()) ADD_FAILURE() << stepped.status();
    }
  });
  std::thread producer([&] {
    for (int k = 1; k <= kLate; ++k) {
      {
        std::unique_lock<std::mutex> lock(mu);
        if (!cv.wait_for(lock, std::chrono::seconds(10), [&] { return steps_entered >= k; })) {
          ADD_FAILURE() << "step " << k << " never started";
          return;
        }
      }
      // Inside step k: the engine thread is in the step function now.
      absl::StatusOr<RequestId> id = engine.Submit(requests[k], sinks[k]);
      EXPECT_TRUE(id.ok()) << id.status();
      EXPECT_GE(engine.counters().waiting, 1);
      {
        std::lock_guard<std::mutex> lock(mu);
        submitted = k;
      }
      cv.notify_all();
    }
  });
  producer.join();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  auto all_finished = [&] {
    for (const auto& s : sinks) {
      if (!s->finished.load()) return false;
    }
    return true;
  };
  while (!all_finished() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  stop.store(true);
  engine_thread.join();

  EXPECT_FALSE(rendezvous_timed_out);
  ASSERT_TRUE(all_finished());
  for (int i = 0; i <= kLate; ++i) {
    EXPECT_EQ(OutcomeOf(*sinks[i]).tokens,
              NaiveGreedy(requests[i].prompt, requests[i].max_new_tokens))
        << "request " << i;
  }
  EXPECT_FALSE(engine.HasWork());
  EXPECT_EQ(executor->kv_cache().FreeBlocks(), executor->kv_cache().shape().num_blocks);
}

TEST_F(EngineTest, CancelFromAnotherThreadWhileAStepRuns) {
  MakePlan(8, 4, 3);
  auto executor = MakeExecutor();
  Engine engine(*executor);
  std::vector<GenerationRequest> requests = {Greedy(5, 600, 14), Greedy(9, 601, 14),
                                             Greedy(2, 602, 14)};
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  std::vector<RequestId> ids;
  for (const GenerationRequest& r : requests) {
    sinks.push_back(std::make_shared<CollectingSink>());
    auto id = engine.Submit(r, sinks.back());
    ASSERT_TRUE(id.ok()) << id.status();
    ids.push_back(*id);
  }
  // Step 6 waits until request 1 has been cancelled from the main thread.
  std::mutex mu;
  std::condition_variable cv;
  int steps_entered = 0;
  bool cancelled = false;
  executor->before_step = [&] {
    std::unique_lock<std::mutex> lock(mu);
    if (++steps_entered == 6) {
      cv.notify_all();
      cv.wait_for(lock, std::chrono::seconds(10), [&] { return cancelled; });
    }
  };
  std::thread engine_thread([&] { RunUntilIdle(engine); });
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return steps_entered >= 6; }));
  }
  engine.Cancel(ids[1]);
  {
    std::lock_guard<std::mutex> lock(mu);
    cancelled = true;
  }
  cv.notify_all();
  engine_thread.join();

  const GenerationOutcome gone = OutcomeOf(*sinks[1]);
  EXPECT_EQ(gone.finish_reason, FinishReason::kCancelled);
  EXPECT_LT(gone.tokens.size(), 14u);
  const std::vector<int32_t> full = NaiveGreedy(requests[1].prompt, 14);
  EXPECT_EQ(gone.tokens, std::vector<int32_t>(full.begin(), full.begin() + gone.tokens.size()));
  for (int i : {0, 2}) {
    EXPECT_EQ(OutcomeOf(*sinks[i]).tokens, NaiveGreedy(requests[i].prompt, 14)) << i;
  }
  EXPECT_EQ(executor->kv_cache().FreeBlocks(), executor->kv_cache().shape().num_blocks);
}

TEST_F(EngineTest, CancelInMidPrefillFreesItsBlocksByTheNextStep) {
  MakePlan(4, 4, 2);
  auto executor = MakeExecutor();
  KvCache& cache = executor->kv_cache();
  const int32_t all_blocks = cache.FreeBlocks();
  Engine engine(*executor);
  auto sink = std::make_shared<CollectingSink>();
  auto id = engine.Submit(Greedy(20, 700, 4), sink);  // 5 steps of 4 prompt tokens
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(StepOk(engine));
  ASSERT_TRUE(StepOk(engine));
  // 8 positions fed: 2 blocks of 4, and nothing chosen yet.
  EXPECT_EQ(cache.FreeBlocks(), all_blocks - 2);
  EXPECT_TRUE(sink->tokens.empty());
  EXPECT_EQ(engine.counters().running, 1);
  engine.Cancel(*id);
  EXPECT_TRUE(engine.HasWork());
  absl::StatusOr<bool> stepped = engine.StepOnce();
  ASSERT_TRUE(stepped.ok()) << stepped.status();
  EXPECT_FALSE(*stepped);  // nothing left to step
  EXPECT_EQ(cache.FreeBlocks(), all_blocks);
  EXPECT_EQ(executor->ActiveSlots(), 0);
  const GenerationOutcome outcome = OutcomeOf(*sink);
  EXPECT_EQ(outcome.finish_reason, FinishReason::kCancelled);
  EXPECT_STREQ(FinishReasonName(outcome.finish_reason), "cancelled");
  EXPECT_TRUE(outcome.tokens.empty());
  EXPECT_EQ(outcome.ttft_ms, 0.0);
  EXPECT_FALSE(engine.HasWork());
  const EngineCounters counters = engine.counters();
  EXPECT_EQ(counters.running + counters.waiting, 0);
  EXPECT_EQ(counters.free_kv_blocks, all_blocks);
  // A later cancel of the same id changes nothing.
  engine.Cancel(*id);
  EXPECT_FALSE(StepOk(engine));
  EXPECT_EQ(sink->finishes, 1);
}

TEST_F(EngineTest, CancelInMidDecodeFreesItsBlocksByTheNextStep) {
  MakePlan(8, 4, 2);
  auto executor = MakeExecutor();
  KvCache& cache = executor->kv_cache();
  const int32_t all_blocks = cache.FreeBlocks();
  Engine engine(*executor);
  auto sink = std::make_shared<CollectingSink>();
  const GenerationRequest request = Greedy(6, 701, 20);
  auto id = engine.Submit(request, sink);
  ASSERT_TRUE(id.ok());
  while (sink->tokens.size() < 5) ASSERT_TRUE(StepOk(engine));
  // 6 prompt tokens + 4 fed back: 10 positions in 3 blocks.
  EXPECT_EQ(cache.FreeBlocks(), all_blocks - 3);
  engine.Cancel(*id);
  EXPECT_FALSE(StepOk(engine));
  EXPECT_EQ(cache.FreeBlocks(), all_blocks);
  EXPECT_EQ(executor->ActiveSlots(), 0);
  const GenerationOutcome outcome = OutcomeOf(*sink);
  EXPECT_EQ(outcome.finish_reason, FinishReason::kCancelled);
  EXPECT_EQ(outcome.tokens, NaiveGreedy(request.prompt, 5));
  EXPECT_GT(outcome.ttft_ms, 0.0);
  EXPECT_LE(outcome.ttft_ms, outcome.total_ms);
}

// Cancels request `victim` of `requests` at the first step where `when`
// says so (checked after each step), runs the rest to the end, and returns
// every request's outcome.
std::vector<GenerationOutcome> RunWithCancel(
    ContextHashExecutor& executor, const std::vector<GenerationRequest>& requests, size_t victim,
    const std::function<bool(const CollectingSink&, const KvCache&)>& when) {
  Engine engine(executor);
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  std::vector<RequestId> ids;
  for (const GenerationRequest& r : requests) {
    sinks.push_back(std::make_shared<CollectingSink>());
    absl::StatusOr<RequestId> id = engine.Submit(r, sinks.back());
    EXPECT_TRUE(id.ok()) << id.status();
    ids.push_back(id.value_or(0));
  }
  bool cancelled = false;
  while (true) {
    absl::StatusOr<bool> stepped = engine.StepOnce();
    EXPECT_TRUE(stepped.ok()) << stepped.status();
    if (!stepped.ok() || !*stepped) break;
    if (!cancelled && when(*sinks[victim], executor.kv_cache())) {
      engine.Cancel(ids[victim]);
      cancelled = true;
    }
  }
  EXPECT_TRUE(cancelled) << "the cancel point never came";
  std::vector<GenerationOutcome> outcomes;
  for (const auto& s : sinks) outcomes.push_back(OutcomeOf(*s));
  return outcomes;
}

TEST_F(EngineTest, CancelledRequestDoesNotChangeTheOthers) {
  MakePlan(8, 3, 3);
  std::vector<GenerationRequest> requests = {Greedy(5, 710, 9), Greedy(18, 711, 6),
                                             Greedy(3, 712, 12), Greedy(7, 713, 8)};
  requests[2].sampling.do_sample = true;  // a sampled neighbour too
  requests[2].sampling.temperature = 2.0f;
  requests[2].sampling.seed = 77;
  std::vector<GenerationRequest> without_victim = requests;
  without_victim.erase(without_victim.begin() + 1);
  const std::vector<GenerationOutcome> reference = ClosedBatch(without_victim);
  ASSERT_EQ(reference.size(), 3u);

  struct Case {
    const char* name;
    std::function<bool(const CollectingSink&, const KvCache&)> when;
  };
  const Case cases[] = {
      // Request 1 (18 prompt tokens) holds a slot and blocks but has no token.
      {"mid-prefill",
       [](const CollectingSink& s, const KvCache& cache) {
         return s.tokens.empty() && cache.ReservedPositions(1) > 0;
       }},
      {"mid-decode", [](const CollectingSink& s, const KvCache&) { return s.tokens.size() == 3; }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto executor = MakeExecutor();
    const std::vector<GenerationOutcome> outcomes = RunWithCancel(*executor, requests, 1, c.when);
    ASSERT_EQ(outcomes.size(), 4u);
    EXPECT_EQ(outcomes[1].finish_reason, FinishReason::kCancelled);
    EXPECT_LT(outcomes[1].tokens.size(), 6u);
    const std::vector<int32_t> full = NaiveGreedy(requests[1].prompt, 6);
    EXPECT_EQ(outcomes[1].tokens,
              std::vector<int32_t>(full.begin(), full.begin() + outcomes[1].tokens.size()));
    const size_t others[] = {0, 2, 3};
    for (size_t k = 0; k < 3; ++k) {
      EXPECT_EQ(outcomes[others[k]].tokens, reference[k].tokens) << "request " << others[k];
      EXPECT_EQ(outcomes[others[k]].finish_reason, reference[k].finish_reason);
    }
    EXPECT_EQ(outcomes[0].tokens, NaiveGreedy(requests[0].prompt, 9));
    EXPECT_EQ(executor->kv_cache().FreeBlocks(), executor->kv_cache().shape().num_blocks);
  }
}

// A mix of greedy, sampled, kept-logits and eos requests, submitted one per
// step to a running engine, against the closed batch (all submitted at
// once) and the single-sequence generator.
TEST_F(EngineTest, StaggeredArrivalsEqualTheClosedBatchAndEachSequenceAlone) {
  MakePlan(8, 3, 2);
  std::vector<GenerationRequest> requests;
  const int lengths[] = {1, 3, 7, 12, 5, 9, 4};
  const int new_tokens[] = {6, 10, 4, 9, 3, 7, 11};
  for (int i = 0; i < 7; ++i) requests.push_back(Greedy(lengths[i], 100 + i, new_tokens[i]));
  requests[1].sampling.do_sample = true;
  requests[1].sampling.temperature = 3.0f;
  requests[1].sampling.seed = 1234;
  requests[4].sampling.do_sample = true;
  requests[4].sampling.top_k = 3;
  requests[4].sampling.seed = 9;
  requests[3].keep_all_logits = true;
  requests[6].eos_token_id = NaiveGreedy(requests[6].prompt, 11)[2];

  const std::vector<GenerationOutcome> closed = ClosedBatch(requests);
  ASSERT_EQ(closed.size(), requests.size());

  auto executor = MakeExecutor();
  Engine engine(*executor);
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  for (const GenerationRequest& r : requests) {
    sinks.push_back(std::make_shared<CollectingSink>());
    ASSERT_TRUE(engine.Submit(r, sinks.back()).ok());
    ASSERT_TRUE(StepOk(engine));
  }
  RunUntilIdle(engine);
  for (size_t i = 0; i < requests.size(); ++i) {
    SCOPED_TRACE(i);
    const GenerationOutcome online = OutcomeOf(*sinks[i]);
    EXPECT_EQ(online.tokens, closed[i].tokens);
    EXPECT_EQ(online.finish_reason, closed[i].finish_reason);
    EXPECT_EQ(online.logits, closed[i].logits);
    EXPECT_EQ(online.logit_rows, closed[i].logit_rows);
    if (requests[i].sampling.do_sample) {
      // Alone in its own batch, a sampled request draws the same tokens.
      std::vector<GenerationOutcome> alone = ClosedBatch({requests[i]});
      ASSERT_EQ(alone.size(), 1u);
      EXPECT_EQ(online.tokens, alone[0].tokens);
      continue;
    }
    auto single_executor = MakeExecutor();
    GenerationOptions options;
    options.max_new_tokens = requests[i].max_new_tokens;
    options.keep_all_logits = requests[i].keep_all_logits;
    options.stop_token_id = requests[i].eos_token_id;
    auto single = GenerateGreedy(*single_executor, requests[i].prompt, options);
    ASSERT_TRUE(single.ok()) << single.status();
    EXPECT_EQ(online.tokens, single->tokens);
    if (requests[i].keep_all_logits) EXPECT_EQ(online.logits, single->logits);
  }
  EXPECT_EQ(closed[6].finish_reason, FinishReason::kEos);
  EXPECT_EQ(executor->kv_cache().FreeBlocks(), executor->kv_cache().shape().num_blocks);
}

TEST_F(EngineTest, PreemptionUnderASmallPoolKeepsTheOutputs) {
  MakePlan(8, 4, 3);
  std::vector<GenerationRequest> requests;
  for (int i = 0; i < 5; ++i) requests.push_back(Greedy(6 + i, 200 + i, 12));
  requests[2].sampling.do_sample = true;  // its generator survives preemption
  requests[2].sampling.temperature = 2.5f;
  requests[2].sampling.seed = 42;
  requests[3].keep_all_logits = true;  // and its kept rows are not doubled

  // The same arrivals (two at once, then one per step) on a big pool and on
  // 7 blocks of 4 positions, where 3 slots need up to 6 blocks each.
  auto run = [&](int32_t num_blocks, int64_t* preemptions) {
    auto executor = MakeExecutor(num_blocks);
    Engine engine(*executor);
    std::vector<std::shared_ptr<CollectingSink>> sinks;
    for (size_t i = 0; i < requests.size(); ++i) {
      sinks.push_back(std::make_shared<CollectingSink>());
      EXPECT_TRUE(engine.Submit(requests[i], sinks.back()).ok());
      if (i >= 1) EXPECT_TRUE(StepOk(engine));
    }
    RunUntilIdle(engine);
    *preemptions = engine.counters().preemptions;
    EXPECT_EQ(executor->kv_cache().FreeBlocks(), executor->kv_cache().shape().num_blocks);
    std::vector<GenerationOutcome> outcomes;
    for (const auto& s : sinks) outcomes.push_back(OutcomeOf(*s));
    return outcomes;
  };
  int64_t big_preemptions = 0, small_preemptions = 0;
  const std::vector<GenerationOutcome> big = run(0, &big_preemptions);
  const std::vector<GenerationOutcome> small = run(7, &small_preemptions);
  EXPECT_EQ(big_preemptions, 0);
  EXPECT_GT(small_preemptions, 0);
  int32_t per_request = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(small[i].tokens, big[i].tokens);
    EXPECT_EQ(small[i].logits, big[i].logits);
    EXPECT_EQ(small[i].logit_rows, big[i].logit_rows);
    if (!requests[i].sampling.do_sample) {
      EXPECT_EQ(small[i].tokens, NaiveGreedy(requests[i].prompt, 12));
    }
    per_request += small[i].preemptions;
  }
  EXPECT_EQ(per_request, small_preemptions);
}

// Tests that prefill-first packing on a pool smaller than the slots need
// always finishes: a preempted sequence readmitted at once used to take
// back the blocks a decoding sequence was waiting for, be preempted again,
// and so on forever (found on random workloads; one token a step, two
// slots, nine blocks). Every workload must end within a bound of steps
// with the tokens of a big pool.
TEST_F(EngineTest, PrefillFirstOnASmallPoolAlwaysFinishes) {
  MakePlan(1, 1, 2);
  EngineOptions prefill_first;
  prefill_first.policy = EngineOptions::Policy::kPrefillFirst;
  int64_t preempting_workloads = 0;
  for (int workload = 0; workload < 200; ++workload) {
    SCOPED_TRACE(workload);
    std::vector<GenerationRequest> requests;
    for (int i = 0; i < 7; ++i) {
      const int seed = workload * 7 + i;
      requests.push_back(Greedy(1 + seed % 20, 900 + seed, 1 + (seed * 5) % 12));
    }
    auto run = [&](int32_t num_blocks, int64_t* preemptions, bool* finished) {
      auto executor = MakeExecutor(num_blocks);
      Engine engine(*executor, prefill_first);
      std::vector<std::shared_ptr<CollectingSink>> sinks;
      for (const GenerationRequest& r : requests) {
        sinks.push_back(std::make_shared<CollectingSink>());
        EXPECT_TRUE(engine.Submit(r, sinks.back()).ok());
      }
      // Every token of every request, each up to a few times over: far
      // more steps than a finishing schedule takes.
      int steps = 0;
      *finished = false;
      while (steps < 20000) {
        absl::StatusOr<bool> stepped = engine.StepOnce();
        if (!stepped.ok()) {
          ADD_FAILURE() << stepped.status();
          break;
        }
        if (!*stepped) {
          *finished = true;
          break;
        }
        ++steps;
      }
      *preemptions = engine.counters().preemptions;
      std::vector<std::vector<int32_t>> tokens;
      for (const auto& sink : sinks) tokens.push_back(sink->tokens);
      return tokens;
    };
    int64_t big_preemptions = 0, small_preemptions = 0;
    bool big_finished = false, small_finished = false;
    const auto big = run(0, &big_preemptions, &big_finished);
    const auto small = run(9, &small_preemptions, &small_finished);
    ASSERT_TRUE(big_finished);
    ASSERT_TRUE(small_finished) << "no end after 20000 steps (" << small_preemptions
                                << " preemptions)";
    EXPECT_EQ(small, big);
    if (small_preemptions > 0) ++preempting_workloads;
  }
  EXPECT_GT(preempting_workloads, 0);  // the small pool did force preemptions
}

TEST_F(EngineTest, AFailedStepEndsOnlyItsRequestsWithTheError) {
  MakePlan(8, 4, 1);  // one slot: the second request waits
  auto executor = MakeExecutor();
  executor->fail_at_step = 2;
  Engine engine(*executor);
  const GenerationRequest first = Greedy(5, 800, 6), second = Greedy(4, 801, 6);
  auto a = std::make_shared<CollectingSink>(), b = std::make_shared<CollectingSink>();
  ASSERT_TRUE(engine.Submit(first, a).ok());
  ASSERT_TRUE(engine.Submit(second, b).ok());
  ASSERT_TRUE(StepOk(engine));
  absl::StatusOr<bool> failed = engine.StepOnce();
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("fake: the step failed"), absl::string_view::npos);
  ASSERT_EQ(a->finishes, 1);
  ASSERT_FALSE(a->result->ok());
  EXPECT_EQ(a->result->status(), failed.status());
  EXPECT_EQ(b->finishes, 0);
  EXPECT_EQ(executor->ActiveSlots(), 0);
  RunUntilIdle(engine);
  EXPECT_EQ(OutcomeOf(*b).tokens, NaiveGreedy(second.prompt, 6));
  EXPECT_EQ(executor->kv_cache().FreeBlocks(), executor->kv_cache().shape().num_blocks);
}

TEST_F(EngineTest, SubmitRefusesBadRequestsAndAFullQueue) {
  MakePlan(8, 4, 1);
  auto executor = MakeExecutor();
  EngineOptions options;
  options.max_waiting = 2;
  Engine engine(*executor, options);
  GenerationRequest bad = Greedy(30, 1, 4);  // 33 positions > max_seq_len 32
  absl::StatusOr<RequestId> refused = engine.Submit(bad, std::make_shared<CollectingSink>());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message().find('\n'), absl::string_view::npos);
  EXPECT_NE(refused.status().message().find("max_seq_len is 32"), absl::string_view::npos);
  EXPECT_FALSE(engine.Submit(Greedy(3, 1, 4), nullptr).ok());

  ASSERT_TRUE(engine.Submit(Greedy(3, 2, 4), std::make_shared<CollectingSink>()).ok());
  ASSERT_TRUE(engine.Submit(Greedy(3, 3, 4), std::make_shared<CollectingSink>()).ok());
  absl::StatusOr<RequestId> full =
      engine.Submit(Greedy(3, 4, 4), std::make_shared<CollectingSink>());
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(engine.counters().waiting, 2);
  // One slot: the first is admitted, the second still waits: room for one.
  ASSERT_TRUE(StepOk(engine));
  EXPECT_EQ(engine.counters().running, 1);
  EXPECT_EQ(engine.counters().waiting, 1);
  EXPECT_TRUE(engine.Submit(Greedy(3, 4, 4), std::make_shared<CollectingSink>()).ok());
  EXPECT_EQ(executor->steps_, 1);
}

TEST_F(EngineTest, DestroyingTheEngineEndsUnfinishedRequests) {
  MakePlan(8, 4, 2);
  auto executor = MakeExecutor();
  auto running = std::make_shared<CollectingSink>(), queued = std::make_shared<CollectingSink>();
  {
    Engine engine(*executor);
    ASSERT_TRUE(engine.Submit(Greedy(4, 900, 10), running).ok());
    ASSERT_TRUE(StepOk(engine));
    ASSERT_TRUE(engine.Submit(Greedy(4, 901, 10), queued).ok());
  }
  for (const auto& sink : {running, queued}) {
    ASSERT_EQ(sink->finishes, 1);
    ASSERT_FALSE(sink->result->ok());
    EXPECT_EQ(sink->result->status().code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_EQ(executor->ActiveSlots(), 0);
  EXPECT_EQ(executor->kv_cache().FreeBlocks(), executor->kv_cache().shape().num_blocks);
}

// Static batching (EngineOptions::Admission::kStaticBatch).

EngineOptions StaticBatch(int32_t size, absl::Duration timeout) {
  EngineOptions options;
  options.admission = EngineOptions::Admission::kStaticBatch;
  options.static_batch_size = size;
  options.static_batch_timeout = timeout;
  return options;
}

// A batch of 3 forms when the third request arrives (the timeout is far
// off); while it runs, nothing is admitted, not even into the slot its
// shortest member frees (continuous batching would admit there); the next
// full batch forms as the first one's last member ends. Each request's
// tokens equal those of the same submissions under continuous batching.
TEST_F(EngineTest, StaticBatchFormsWhenFullAndAdmitsNothingWhileItRuns) {
  MakePlan(8, 8, 4);
  std::vector<GenerationRequest> requests;
  const int new_tokens[] = {3, 9, 6, 5, 2, 7};
  for (int i = 0; i < 6; ++i) requests.push_back(Greedy(3 + i, 700 + i, new_tokens[i]));
  requests[1].sampling.do_sample = true;
  requests[1].sampling.temperature = 2.0f;
  requests[1].sampling.seed = 77;
  requests[4].sampling.do_sample = true;
  requests[4].sampling.top_k = 4;
  requests[4].sampling.seed = 5;

  auto executor = MakeExecutor();
  Engine engine(*executor, StaticBatch(3, absl::Hours(1)));
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  for (int i = 0; i < 6; ++i) sinks.push_back(std::make_shared<CollectingSink>());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(engine.Submit(requests[i], sinks[i]).ok());
  EXPECT_FALSE(StepOk(engine));
  EXPECT_FALSE(engine.HasWork());
  EXPECT_FALSE(engine.WaitForWork(absl::Milliseconds(5)));
  EXPECT_EQ(engine.counters().waiting, 2);
  EXPECT_EQ(engine.counters().running, 0);
  ASSERT_TRUE(engine.Submit(requests[2], sinks[2]).ok());
  EXPECT_TRUE(engine.HasWork());
  ASSERT_TRUE(StepOk(engine));
  EXPECT_EQ(engine.counters().running, 3);

  // The second batch arrives while the first runs.
  for (int i = 3; i < 6; ++i) ASSERT_TRUE(engine.Submit(requests[i], sinks[i]).ok());
  auto first_batch_done = [&] {
    return sinks[0]->finished && sinks[1]->finished && sinks[2]->finished;
  };
  int steps = 0;
  while (!first_batch_done() && steps++ < 100) {
    for (int i = 3; i < 6; ++i) EXPECT_TRUE(sinks[i]->tokens.empty()) << i;
    EXPECT_LE(engine.counters().running, 3);
    EXPECT_EQ(engine.counters().waiting, 3);
    ASSERT_TRUE(StepOk(engine));
  }
  ASSERT_TRUE(first_batch_done());
  // Its last member's final step ran without the second batch.
  for (int i = 3; i < 6; ++i) EXPECT_TRUE(sinks[i]->tokens.empty()) << i;
  RunUntilIdle(engine);
  EXPECT_FALSE(engine.HasWork());

  auto continuous_executor = MakeExecutor();
  Engine continuous(*continuous_executor);
  std::vector<std::shared_ptr<CollectingSink>> reference;
  for (int i = 0; i < 6; ++i) {
    reference.push_back(std::make_shared<CollectingSink>());
    ASSERT_TRUE(continuous.Submit(requests[i], reference.back()).ok());
    if (i == 2) ASSERT_TRUE(StepOk(continuous));
  }
  RunUntilIdle(continuous);
  for (int i = 0; i < 6; ++i) {
    SCOPED_TRACE(i);
    const GenerationOutcome batched = OutcomeOf(*sinks[i]);
    const GenerationOutcome expected = OutcomeOf(*reference[i]);
    EXPECT_EQ(batched.tokens, expected.tokens);
    EXPECT_EQ(batched.tokens.size(), static_cast<size_t>(new_tokens[i]));
    EXPECT_EQ(batched.finish_reason, FinishReason::kLength);
  }
  EXPECT_EQ(executor->kv_cache().FreeBlocks(), executor->kv_cache().shape().num_blocks);
}

// Short of the batch size, the batch forms once the oldest request has
// waited the timeout, with every request then waiting; WaitForWork sleeps
// until then and wakes for it.
TEST_F(EngineTest, StaticBatchFormsAtTheTimeoutWithWhatWaits) {
  using Clock = std::chrono::steady_clock;
  MakePlan(8, 8, 4);
  constexpr auto kTimeout = std::chrono::milliseconds(150);
  auto executor = MakeExecutor();
  Engine engine(*executor, StaticBatch(4, absl::Milliseconds(150)));
  const std::vector<GenerationRequest> requests = {Greedy(4, 31, 5), Greedy(6, 32, 3)};
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  const Clock::time_point submitted = Clock::now();
  for (const GenerationRequest& r : requests) {
    sinks.push_back(std::make_shared<CollectingSink>());
    ASSERT_TRUE(engine.Submit(r, sinks.back()).ok());
  }
  // Whatever the machine's speed: a step tried before the timeout steps nothing.
  absl::StatusOr<bool> early = engine.StepOnce();
  ASSERT_TRUE(early.ok()) << early.status();
  if (Clock::now() - submitted < kTimeout) {
    EXPECT_FALSE(*early);
    EXPECT_EQ(engine.counters().running, 0);
    const bool woke = engine.WaitForWork(absl::Milliseconds(1));
    if (Clock::now() - submitted < kTimeout) EXPECT_FALSE(woke);
  }
  EXPECT_TRUE(engine.WaitForWork(absl::InfiniteDuration()));
  EXPECT_GE(Clock::now() - submitted, kTimeout);
  if (!*early) ASSERT_TRUE(StepOk(engine));
  EXPECT_EQ(engine.counters().running, 2);
  RunUntilIdle(engine);
  for (size_t i = 0; i < requests.size(); ++i) {
    SCOPED_TRACE(i);
    const GenerationOutcome outcome = OutcomeOf(*sinks[i]);
    EXPECT_EQ(outcome.tokens, NaiveGreedy(requests[i].prompt, requests[i].max_new_tokens));
    EXPECT_GE(outcome.queue_ms, 150.0);
  }
}

TEST_F(EngineTest, WaitForWorkWakesOnASubmissionFromAnotherThread) {
  MakePlan(8, 4, 2);
  auto executor = MakeExecutor();
  Engine engine(*executor);
  EXPECT_FALSE(engine.HasWork());
  EXPECT_FALSE(engine.WaitForWork(absl::Milliseconds(1)));
  std::thread submitter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_TRUE(engine.Submit(Greedy(3, 1, 2), std::make_shared<CollectingSink>()).ok());
  });
  EXPECT_TRUE(engine.WaitForWork(absl::InfiniteDuration()));
  submitter.join();
  EXPECT_EQ(RunUntilIdle(engine), 2);  // the prefill with the first token, one decode
  EXPECT_FALSE(engine.HasWork());
}

// EngineOptions::device_choice, with a reference "device" that steps the
// executor and then chooses each row from the RowChoice alone: the
// sampler's distribution for those settings over the row's penalized ids,
// and an inverse-CDF draw in id order with the row's uniform (what the CUDA
// kernel does). Every request's tokens must equal the host sampler's, so
// the engine hands each row its own settings, its distinct context ids,
// its banned token and exactly the draw its generator would have taken.
TEST_F(EngineTest, DeviceChoiceGetsEachRequestsSettingsAndDrawAndMatchesTheHostSampler) {
  MakePlan(8, 3, 3);
  std::vector<GenerationRequest> requests;
  for (int i = 0; i < 8; ++i) requests.push_back(Greedy(2 + i, 700 + i, 9));
  auto sample = [&](int i, uint64_t seed) {
    requests[i].sampling.do_sample = true;
    requests[i].sampling.seed = seed;
    return &requests[i].sampling;
  };
  sample(1, 11)->temperature = 2.0f;
  sample(2, 12)->top_k = 4;
  sample(3, 13)->top_p = 0.7f;
  sample(4, 14)->typical_p = 0.8f;
  SamplingParams* all = sample(5, 15);
  all->temperature = 1.5f;
  all->top_k = 20;
  all->top_p = 0.9f;
  all->repetition_penalty = 1.8f;
  // Greedy with a penalty, on a prompt short enough to leave tokens out.
  requests[6].prompt.resize(1);
  requests[6].sampling.repetition_penalty = 2.5f;
  // min_new_tokens bans eos (the token greedy would choose third) until then.
  requests[7].eos_token_id = NaiveGreedy(requests[7].prompt, 9)[2];
  requests[7].min_new_tokens = 5;

  auto run = [&](bool on_device, std::vector<std::vector<float>>* logprobs) {
    auto executor = MakeExecutor();
    EngineOptions options;
    int device_steps = 0;
    options.on_step = [&](const StepRecord& r) { device_steps += r.device_choice ? 1 : 0; };
    std::vector<int32_t> ids;
    std::vector<float> lps;
    if (on_device) {
      options.device_choice = [&](const StepBatch& batch,
                                  const TokenChoices& choices) -> absl::StatusOr<ChosenTokens> {
        if (absl::Status s = executor->Step(batch); !s.ok()) return s;
        EXPECT_EQ(choices.rows.size(), batch.logit_rows.size());
        ids.clear();
        lps.clear();
        const int64_t vocab = executor->vocab_size();
        for (size_t r = 0; r < choices.rows.size(); ++r) {
          const RowChoice& c = choices.rows[r];
          absl::Span<const int32_t> penalized =
              choices.penalized_ids.subspan(c.penalty_begin, c.penalty_count);
          EXPECT_EQ(absl::flat_hash_set<int32_t>(penalized.begin(), penalized.end()).size(),
                    penalized.size())
              << "penalized ids repeat";
          const std::vector<double> dist = Sampler(testing::ParamsOf(c)).Distribution(
              executor->logits().subspan(r * vocab, vocab), penalized, c.banned_token);
          const int32_t chosen = InverseCdf(dist, c.uniform);
          ids.push_back(chosen);
          lps.push_back(static_cast<float>(std::log(dist[chosen])));
        }
        return ChosenTokens{ids, lps};
      };
    }
    Engine engine(*executor, options);
    std::vector<std::shared_ptr<CollectingSink>> sinks;
    for (const GenerationRequest& r : requests) {
      sinks.push_back(std::make_shared<CollectingSink>());
      EXPECT_TRUE(engine.Submit(r, sinks.back()).ok());
      EXPECT_TRUE(StepOk(engine));  // staggered: one arrival per step
    }
    RunUntilIdle(engine);
    EXPECT_EQ(device_steps > 0, on_device);
    std::vector<GenerationOutcome> outcomes;
    for (const auto& sink : sinks) outcomes.push_back(OutcomeOf(*sink));
    if (logprobs != nullptr) {
      for (const GenerationOutcome& o : outcomes) logprobs->push_back(o.logprobs);
    }
    return outcomes;
  };
  std::vector<std::vector<float>> host_logprobs, device_logprobs;
  const std::vector<GenerationOutcome> host = run(false, &host_logprobs);
  const std::vector<GenerationOutcome> device = run(true, &device_logprobs);
  ASSERT_EQ(host.size(), requests.size());
  ASSERT_EQ(device.size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(device[i].tokens, host[i].tokens);
    EXPECT_EQ(device[i].finish_reason, host[i].finish_reason);
    ASSERT_EQ(device_logprobs[i].size(), device[i].tokens.size());
    ASSERT_EQ(host_logprobs[i].size(), host[i].tokens.size());
    // The reference device's logprob is the host's for sampled tokens (the
    // same distribution); greedy ones differ by design (the reference puts
    // all mass on the argmax), so only the sampled are compared.
    if (requests[i].sampling.do_sample) {
      for (size_t k = 0; k < host_logprobs[i].size() && k < device_logprobs[i].size(); ++k) {
        EXPECT_NEAR(device_logprobs[i][k], host_logprobs[i][k], 1e-6);
      }
    }
  }
  // Request 7 ran past the token that is eos only because it was banned.
  EXPECT_GE(host[7].tokens.size(), 5u);
  EXPECT_NE(host[6].tokens, NaiveGreedy(requests[6].prompt, 9));  // the penalty bites
}

}  // namespace
}  // namespace bloom
