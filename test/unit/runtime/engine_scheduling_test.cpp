// Tests how the long-lived engine schedules (engine_test_fixture.h has the
// fake step function and the references): submissions from another thread
// while steps run, staggered arrivals against the closed batch and each
// sequence alone, preemption on a small KV pool, prefill-first packing that
// must always finish, static batching's admission, and WaitForWork.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "runtime/serve/engine.h"
#include "test/support/generator.h"
#include "test/unit/runtime/engine_test_fixture.h"

namespace bloom::testing {
namespace {

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

}  // namespace
}  // namespace bloom::testing
