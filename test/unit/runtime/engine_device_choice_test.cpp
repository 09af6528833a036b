// Tests the long-lived engine's token choice on the device
// (EngineOptions::device_choice) against the host sampler, on the fake step
// function of engine_test_fixture.h.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "runtime/serve/engine.h"
#include "runtime/serve/sampler.h"
#include "test/unit/runtime/engine_test_fixture.h"
#include "test/unit/runtime/reference_token_choice.h"

namespace bloom::testing {
namespace {

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
}  // namespace bloom::testing
