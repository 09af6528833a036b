// Tests how the long-lived engine ends requests other than by finishing
// them (engine_test_fixture.h has the fake step function and the
// references): a cancel from another thread while a step runs, cancels in
// mid-prefill and mid-decode that free their blocks by the next step and
// leave the other requests' tokens as a run without the victim; a failed
// step, refused submissions and a full queue, and destroying the engine.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/serve/engine.h"
#include "test/unit/runtime/engine_test_fixture.h"

namespace bloom::testing {
namespace {

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

}  // namespace
}  // namespace bloom::testing
