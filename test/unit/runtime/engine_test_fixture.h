// What the long-lived engine's tests (engine_test: engine_scheduling_test,
// engine_cancel_test, engine_device_choice_test) share: a sink that records
// what the engine hands one request, request makers, step loops, and the
// EngineTest fixture over the context-hashing fake step function
// (context_hash_executor.h), whose logits depend on each token's whole
// context, so a slip in slots, positions, chunking or KV bookkeeping changes
// the tokens. The references the tests hold the engine to are outside it: a
// naive greedy loop over the same logits (NaiveGreedy), the single-sequence
// generator (GenerateGreedy), the closed-batch scheduler (ClosedBatch), and
// runs of the same requests without the request that is cancelled, arrives
// late or is preempted.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/plan/plan_loader.h"
#include "runtime/serve/engine.h"
#include "runtime/serve/scheduler.h"
#include "test/unit/runtime/collecting_sink.h"
#include "test/unit/runtime/context_hash_executor.h"

namespace bloom::testing {

inline std::vector<int32_t> Prompt(int length, int seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> p(length);
  for (int32_t& t : p) t = std::uniform_int_distribution<int32_t>(0, kVocab - 1)(rng);
  return p;
}

inline GenerationRequest Greedy(int prompt_length, int seed, int max_new_tokens) {
  GenerationRequest r;
  r.prompt = Prompt(prompt_length, seed);
  r.max_new_tokens = max_new_tokens;
  return r;
}

// The outcome a sink got, after checking the sink heard exactly once and
// that the streamed tokens are the outcome's.
inline GenerationOutcome OutcomeOf(const CollectingSink& sink) {
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
inline bool StepOk(Engine& engine) {
  absl::StatusOr<bool> stepped = engine.StepOnce();
  EXPECT_TRUE(stepped.ok()) << stepped.status();
  return stepped.ok() && *stepped;
}

// Steps until there is nothing left; returns the steps that ran.
inline int RunUntilIdle(Engine& engine) {
  int steps = 0;
  while (true) {
    absl::StatusOr<bool> stepped = engine.StepOnce();
    EXPECT_TRUE(stepped.ok()) << stepped.status();
    if (!stepped.ok() || !*stepped) return steps;
    ++steps;
  }
}

// One fixture for the whole EngineTest suite, whichever file a test is in
// (GoogleTest wants one fixture class per suite: hence a named namespace,
// which the test files open too, so that they use these helpers as they are).
class EngineTest : public ::testing::Test {
 protected:
  void MakePlan(int32_t max_batch_tokens, int32_t max_logit_rows, int32_t max_sequences) {
    auto plan = MakeLimitsPlan(max_batch_tokens, max_logit_rows, max_sequences);
    ASSERT_TRUE(plan.ok()) << plan.status();
    plan_ = std::make_unique<LoadedPlan>(*std::move(plan));
  }
  std::unique_ptr<ContextHashExecutor> MakeExecutor(int32_t num_blocks = 0) {
    return MakeContextHashExecutor(*plan_, num_blocks);
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

}  // namespace bloom::testing
