// Tests the continuous-batching scheduler on a fake step function whose
// logits depend on the whole context of each token (what a KV cache holds),
// so any slip in positions, slots, chunking or KV bookkeeping changes the
// output. References: a naive greedy loop over the same logit function, and
// the single-sequence generator (GenerateGreedy) run on each prompt alone.
#include "runtime/serve/scheduler.h"

#include <gtest/gtest.h>

#include <random>

#include "runtime/plan/plan_loader.h"
#include "test/support/generator.h"
#include "test/unit/runtime/context_hash_executor.h"
#include "test/unit/runtime/test_plan.h"

namespace bloom {
namespace {

constexpr int kVocab = testing::kVocab;

using testing::NaiveGreedy;
using FakeExecutor = testing::ContextHashExecutor;

class SchedulerTest : public ::testing::Test {
 protected:
  // A plan with the given limits (the fake ignores its instructions).
  void MakePlan(int32_t max_batch_tokens, int32_t max_logit_rows, int32_t max_sequences) {
    auto plan = testing::MakeLimitsPlan(max_batch_tokens, max_logit_rows, max_sequences);
    ASSERT_TRUE(plan.ok()) << plan.status();
    plan_ = std::make_unique<LoadedPlan>(*std::move(plan));
  }
  // num_blocks 0: enough for every slot to reach max_seq_len.
  std::unique_ptr<FakeExecutor> MakeExecutor(int32_t num_blocks = 0) {
    return testing::MakeContextHashExecutor(*plan_, num_blocks);
  }

  static std::vector<int32_t> Prompt(int length, int seed) {
    std::mt19937 rng(seed);
    std::vector<int32_t> p(length);
    for (int32_t& t : p) t = std::uniform_int_distribution<int32_t>(0, kVocab - 1)(rng);
    return p;
  }

  // Requests of different lengths: 1, 3, 7, 12, 5, 9 prompt tokens.
  static std::vector<GenerationRequest> MixedRequests() {
    std::vector<GenerationRequest> requests;
    const int lengths[] = {1, 3, 7, 12, 5, 9};
    const int new_tokens[] = {6, 10, 4, 9, 1, 7};
    for (int i = 0; i < 6; ++i) {
      GenerationRequest r;
      r.prompt = Prompt(lengths[i], 100 + i);
      r.max_new_tokens = new_tokens[i];
      requests.push_back(r);
    }
    return requests;
  }

  void ExpectEachAlone(const std::vector<GenerationRequest>& requests,
                       const std::vector<GenerationOutcome>& outcomes) {
    ASSERT_EQ(outcomes.size(), requests.size());
    for (size_t i = 0; i < requests.size(); ++i) {
      EXPECT_EQ(outcomes[i].tokens, NaiveGreedy(requests[i].prompt, requests[i].max_new_tokens))
          << "request " << i;
      EXPECT_EQ(outcomes[i].finish_reason, FinishReason::kLength);
      // The single-sequence generator, on a fresh executor.
      auto alone = MakeExecutor();
      GenerationOptions options;
      options.max_new_tokens = requests[i].max_new_tokens;
      auto single = GenerateGreedy(*alone, requests[i].prompt, options);
      ASSERT_TRUE(single.ok()) << single.status();
      EXPECT_EQ(outcomes[i].tokens, single->tokens) << "request " << i;
    }
  }

  std::unique_ptr<LoadedPlan> plan_;
};

TEST_F(SchedulerTest, BatchedGreedyEqualsEachSequenceAlone) {
  // 8 tokens and 3 logit rows per step, 2 slots: prompts are chunked,
  // requests wait for slots, decode tokens compete for logit rows.
  MakePlan(8, 3, 2);
  auto executor = MakeExecutor();
  std::vector<StepRecord> steps;
  SchedulerOptions options;
  options.on_step = [&](const StepRecord& r) { steps.push_back(r); };
  const auto requests = MixedRequests();
  auto outcomes = Scheduler(*executor, options).Run(requests);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  ExpectEachAlone(requests, *outcomes);
  // Everything given back.
  EXPECT_EQ(executor->kv_cache().FreeBlocks(), executor->kv_cache().shape().num_blocks);
  bool mixed_step = false;
  for (const StepRecord& r : steps) {
    EXPECT_LE(r.tokens, 8);
    EXPECT_LE(r.logit_rows, 3);
    EXPECT_LE(r.sequences, 2);
    mixed_step = mixed_step || (r.decode_tokens > 0 && r.tokens > r.decode_tokens);
  }
  EXPECT_TRUE(mixed_step) << "no step packed decode tokens with a prompt chunk";
}

TEST_F(SchedulerTest, ManySlotsAndPrefillFirstPolicyGiveTheSameTokens) {
  MakePlan(8, 8, 4);
  auto executor = MakeExecutor();
  SchedulerOptions options;
  options.policy = SchedulerOptions::Policy::kPrefillFirst;
  bool decoding = false;
  options.on_step = [&](const StepRecord& r) {
    // Under prefill-first a step is all prompt or all decode.
    EXPECT_TRUE(r.decode_tokens == 0 || r.decode_tokens == r.tokens);
    decoding = decoding || r.decode_tokens > 0;
  };
  const auto requests = MixedRequests();
  auto outcomes = Scheduler(*executor, options).Run(requests);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  ExpectEachAlone(requests, *outcomes);
  EXPECT_TRUE(decoding);
}

TEST_F(SchedulerTest, PreemptionWhenBlocksRunOutKeepsTheTokens) {
  MakePlan(8, 4, 3);
  // 7 blocks of 4 positions for 3 slots whose sequences need up to 5 blocks.
  auto executor = MakeExecutor(/*num_blocks=*/7);
  int preempted = 0;
  SchedulerOptions options;
  options.on_step = [&](const StepRecord& r) { preempted += r.preempted; };
  std::vector<GenerationRequest> requests;
  for (int i = 0; i < 4; ++i) {
    GenerationRequest r;
    r.prompt = Prompt(6 + i, 200 + i);
    r.max_new_tokens = 12;
    requests.push_back(r);
  }
  auto outcomes = Scheduler(*executor, options).Run(requests);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  EXPECT_GT(preempted, 0);
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ((*outcomes)[i].tokens, NaiveGreedy(requests[i].prompt, 12)) << i;
  }
  EXPECT_EQ(executor->kv_cache().FreeBlocks(), 7);
}

TEST_F(SchedulerTest, KeptLogitsEqualTheSingleSequenceGenerator) {
  MakePlan(8, 3, 2);
  auto executor = MakeExecutor();
  auto requests = MixedRequests();
  requests[3].keep_all_logits = true;  // 12-token prompt, 9 new tokens
  auto outcomes = Scheduler(*executor).Run(requests);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  auto alone = MakeExecutor();
  GenerationOptions options;
  options.max_new_tokens = 9;
  options.keep_all_logits = true;
  auto single = GenerateGreedy(*alone, requests[3].prompt, options);
  ASSERT_TRUE(single.ok());
  EXPECT_EQ((*outcomes)[3].logit_rows, 12 + 9 - 1);
  EXPECT_EQ((*outcomes)[3].logit_rows, single->logit_rows);
  EXPECT_EQ((*outcomes)[3].logits, single->logits);
}

TEST_F(SchedulerTest, KeptLogitsSurvivePreemption) {
  // As PreemptionWhenBlocksRunOutKeepsTheTokens, with every request keeping
  // its logits: a recomputed context must not keep its rows twice.
  MakePlan(8, 4, 3);
  auto executor = MakeExecutor(/*num_blocks=*/7);
  int preempted = 0;
  SchedulerOptions options;
  options.on_step = [&](const StepRecord& r) { preempted += r.preempted; };
  std::vector<GenerationRequest> requests;
  for (int i = 0; i < 4; ++i) {
    GenerationRequest r;
    r.prompt = Prompt(6 + i, 200 + i);
    r.max_new_tokens = 12;
    r.keep_all_logits = true;
    requests.push_back(r);
  }
  auto outcomes = Scheduler(*executor, options).Run(requests);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  EXPECT_GT(preempted, 0);
  for (size_t i = 0; i < requests.size(); ++i) {
    auto alone = MakeExecutor();
    GenerationOptions single_options;
    single_options.max_new_tokens = 12;
    single_options.keep_all_logits = true;
    auto single = GenerateGreedy(*alone, requests[i].prompt, single_options);
    ASSERT_TRUE(single.ok());
    EXPECT_EQ((*outcomes)[i].tokens, single->tokens) << i;
    EXPECT_EQ((*outcomes)[i].logit_rows, single->logit_rows) << i;
    EXPECT_EQ((*outcomes)[i].logits, single->logits) << i;
  }
}

TEST_F(SchedulerTest, GreedyStepIsUsedOnlyWhereItGivesTheSameTokens) {
  MakePlan(8, 3, 2);
  auto executor = MakeExecutor();
  // A stand-in for a device argmax: the fake's logits, argmax per row.
  std::vector<int32_t> ids;
  int greedy_calls = 0;
  SchedulerOptions options;
  options.greedy_step = [&](const StepBatch& batch) -> absl::StatusOr<absl::Span<const int32_t>> {
    ++greedy_calls;
    if (absl::Status s = executor->Step(batch); !s.ok()) return s;
    ids.clear();
    for (size_t r = 0; r < batch.logit_rows.size(); ++r) {
      ids.push_back(ArgMaxOf(executor->logits().subspan(r * kVocab, kVocab)));
    }
    return absl::MakeConstSpan(ids);
  };
  int steps = 0, greedy_steps = 0;
  options.on_step = [&](const StepRecord& r) {
    ++steps;
    greedy_steps += r.greedy_step;
  };
  const auto requests = MixedRequests();
  auto outcomes = Scheduler(*executor, options).Run(requests);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  ExpectEachAlone(requests, *outcomes);
  EXPECT_EQ(greedy_steps, steps);
  EXPECT_EQ(greedy_calls, steps);

  // With a repetition penalty on one request, the steps that choose its
  // tokens go through Step and the sampler; the rest may stay greedy.
  auto mixed = MixedRequests();
  mixed[0].sampling.repetition_penalty = 1.3f;
  steps = greedy_steps = 0;
  auto fresh = MakeExecutor();
  executor = std::move(fresh);
  outcomes = Scheduler(*executor, options).Run(mixed);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  EXPECT_LT(greedy_steps, steps);
  EXPECT_GT(greedy_steps, 0);
  for (size_t i = 1; i < mixed.size(); ++i) {
    EXPECT_EQ((*outcomes)[i].tokens, NaiveGreedy(mixed[i].prompt, mixed[i].max_new_tokens)) << i;
  }
}

TEST_F(SchedulerTest, EosStopsAndMinNewTokensSuppressesIt) {
  MakePlan(8, 8, 4);
  // Find an eos id that the naive model produces early for this prompt.
  const std::vector<int32_t> prompt = Prompt(5, 300);
  const std::vector<int32_t> free_run = NaiveGreedy(prompt, 12);
  const int32_t eos = free_run[1];
  std::vector<GenerationRequest> requests(2);
  requests[0].prompt = prompt;
  requests[0].max_new_tokens = 12;
  requests[0].eos_token_id = eos;
  requests[1] = requests[0];
  requests[1].min_new_tokens = 6;
  auto executor = MakeExecutor();
  auto outcomes = Scheduler(*executor).Run(requests);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  const auto want0 = NaiveGreedy(prompt, 12, eos, 0);
  EXPECT_EQ((*outcomes)[0].tokens, want0);
  EXPECT_EQ((*outcomes)[0].finish_reason, FinishReason::kEos);
  EXPECT_LE((*outcomes)[0].tokens.size(), 2u);
  const auto want1 = NaiveGreedy(prompt, 12, eos, 6);
  EXPECT_EQ((*outcomes)[1].tokens, want1);
  for (int i = 0; i < 6; ++i) EXPECT_NE((*outcomes)[1].tokens[i], eos);
  EXPECT_EQ((*outcomes)[1].finish_reason,
            want1.back() == eos ? FinishReason::kEos : FinishReason::kLength);
}

TEST_F(SchedulerTest, OnTokenCanStopARequest) {
  MakePlan(8, 8, 4);
  auto executor = MakeExecutor();
  auto requests = MixedRequests();
  int seen = 0;
  requests[1].on_token = [&](int32_t) { return ++seen == 3; };
  auto outcomes = Scheduler(*executor).Run(requests);
  ASSERT_TRUE(outcomes.ok());
  EXPECT_EQ((*outcomes)[1].finish_reason, FinishReason::kStop);
  EXPECT_EQ((*outcomes)[1].tokens, NaiveGreedy(requests[1].prompt, 3));
  EXPECT_EQ((*outcomes)[2].tokens, NaiveGreedy(requests[2].prompt, 4));  // others unaffected
  EXPECT_GT((*outcomes)[1].total_ms, 0.0);
  EXPECT_LE((*outcomes)[1].ttft_ms, (*outcomes)[1].total_ms);
}

TEST_F(SchedulerTest, SampledRequestIsTheSameAloneAndInABatch) {
  MakePlan(8, 3, 2);
  GenerationRequest sampled;
  sampled.prompt = Prompt(7, 400);
  sampled.max_new_tokens = 15;
  sampled.sampling.do_sample = true;
  sampled.sampling.temperature = 3.0f;  // flat enough to vary
  sampled.sampling.seed = 1234;
  auto alone = MakeExecutor();
  auto one = Scheduler(*alone).Run({sampled});
  ASSERT_TRUE(one.ok());
  auto requests = MixedRequests();
  requests.insert(requests.begin() + 2, sampled);
  auto batch_executor = MakeExecutor();
  auto many = Scheduler(*batch_executor).Run(requests);
  ASSERT_TRUE(many.ok());
  EXPECT_EQ((*many)[2].tokens, (*one)[0].tokens);
  // And the seed matters: another seed, another continuation.
  sampled.sampling.seed = 99;
  auto other_executor = MakeExecutor();
  auto other = Scheduler(*other_executor).Run({sampled});
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*other)[0].tokens, (*one)[0].tokens);
  EXPECT_NE((*one)[0].tokens, NaiveGreedy(sampled.prompt, 15));
}

TEST_F(SchedulerTest, RefusesRequestsThatDoNotFitThePlan) {
  MakePlan(8, 3, 2);
  auto executor = MakeExecutor();
  auto requests = MixedRequests();
  requests[4].prompt = Prompt(30, 1);
  requests[4].max_new_tokens = 4;  // 33 positions > 32
  auto outcomes = Scheduler(*executor).Run(requests);
  ASSERT_FALSE(outcomes.ok());
  EXPECT_NE(outcomes.status().message().find("request 4"), absl::string_view::npos);
  EXPECT_NE(outcomes.status().message().find("max_seq_len is 32"), absl::string_view::npos);
  requests = MixedRequests();
  requests[0].prompt[0] = kVocab;
  EXPECT_FALSE(Scheduler(*executor).Run(requests).ok());
  requests = MixedRequests();
  requests[1].sampling.top_p = 0.0f;
  outcomes = Scheduler(*executor).Run(requests);
  ASSERT_FALSE(outcomes.ok());
  EXPECT_NE(outcomes.status().message().find("top_p"), absl::string_view::npos);
  EXPECT_EQ(executor->steps_, 0);  // nothing ran
}

}  // namespace
}  // namespace bloom
