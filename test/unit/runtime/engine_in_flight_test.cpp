// Tests the engine with steps in flight (StepExecutor::max_steps_in_flight()
// > 1, pipeline micro-batching) on the CPU reference backend running a small
// real transformer (tp_test_model.h: ALiBi attention over the paged KV
// cache, so a slip in slots, positions, chunking or KV blocks changes the
// logits), behind DeferringExecutor (deferring_executor.h), which runs each
// begun step only at its FinishStep and checks that no slot is in two steps
// and that none changes while its step is in flight. The reference is the
// same requests on the plain CPU executor, one step at a time (today's
// engine path): every request's tokens, log-probabilities, kept logits and
// finish reason must be the same whatever M is.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "runtime/cpu/cpu_executor.h"
#include "runtime/cpu/cpu_rank_executor.h"
#include "runtime/parallel/pipeline_group.h"
#include "runtime/plan/plan_loader.h"
#include "runtime/serve/engine.h"
#include "test/unit/comm/tp_test_model.h"
#include "test/unit/runtime/collecting_sink.h"
#include "test/unit/runtime/deferring_executor.h"

namespace bloom {
namespace {

using testing::CollectingSink;
using testing::DeferringExecutor;

// Three layers (a pipeline of up to three stages), five slots, steps of up
// to 16 tokens and 8 logit rows, 4-position blocks.
testing::TpModelDims Dims(int32_t num_blocks) {
  testing::TpModelDims dims;
  dims.layers = 3;
  dims.max_sequences = 5;
  dims.num_blocks = num_blocks;
  return dims;
}
constexpr int32_t kBigPool = 5 * 8;  // every slot can reach max_seq_len 32

// Floats equal bit for bit (NaN logprobs of device-argmax tokens included).
bool SameFloats(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

struct EngineRun {
  std::vector<absl::StatusOr<GenerationOutcome>> outcomes;
  std::vector<StepRecord> steps;
  int64_t preemptions = 0;
};

class EngineInFlightTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/bloom-engine-in-flight-test-XXXXXX";
    dir_ = new std::string(mkdtemp(tmpl));
    const testing::TpWeights weights = testing::MakeTpWeights(Dims(kBigPool), 21);
    testing::WriteTpCheckpoint(*dir_, Dims(kBigPool), weights);
  }
  static void TearDownTestSuite() {
    std::system(("rm -rf " + *dir_).c_str());
    delete dir_;
    delete reference_;
    reference_ = nullptr;
  }

  // The plain CPU executor over a pool of `num_blocks` blocks.
  static std::unique_ptr<CpuExecutor> Cpu(int32_t num_blocks = kBigPool) {
    absl::StatusOr<LoadedPlan> plan = LoadedPlan::FromBytes(
        testing::BuildTpPlan(Dims(num_blocks), *dir_, 0, 1), "engine in-flight test plan");
    EXPECT_TRUE(plan.ok()) << plan.status();
    absl::StatusOr<std::unique_ptr<CpuExecutor>> executor =
        CpuExecutor::Create(*std::move(plan), ExecutorOptions{});
    EXPECT_TRUE(executor.ok()) << executor.status();
    return executor.ok() ? *std::move(executor) : nullptr;
  }
  static std::unique_ptr<DeferringExecutor> Deferred(int max_in_flight,
                                                     int32_t num_blocks = kBigPool) {
    return std::make_unique<DeferringExecutor>(Cpu(num_blocks), max_in_flight);
  }

  // MixedRequests() one step at a time on the plain CPU executor (run once).
  static const EngineRun& MixedReference();

  static std::string* dir_;
  static EngineRun* reference_;
};
std::string* EngineInFlightTest::dir_ = nullptr;
EngineRun* EngineInFlightTest::reference_ = nullptr;

GenerationRequest Request(int prompt_length, int seed, int max_new_tokens) {
  GenerationRequest r;
  for (int i = 0; i < prompt_length; ++i) r.prompt.push_back((seed * 7 + i * 13) % 36);
  r.max_new_tokens = max_new_tokens;
  return r;
}

SamplingParams* Sample(GenerationRequest& r, uint64_t seed) {
  r.sampling.do_sample = true;
  r.sampling.seed = seed;
  return &r.sampling;
}

// Twelve requests of mixed prompt lengths: greedy, seeded sampling with
// each warper and the repetition penalty, kept logits, eos with
// min_new_tokens.
std::vector<GenerationRequest> MixedRequests() {
  const int lengths[] = {1, 3, 7, 12, 5, 9, 4, 14, 2, 6, 10, 8};
  const int new_tokens[] = {6, 10, 4, 9, 3, 7, 11, 5, 8, 12, 6, 9};
  std::vector<GenerationRequest> requests;
  for (int i = 0; i < 12; ++i) requests.push_back(Request(lengths[i], 300 + i, new_tokens[i]));
  Sample(requests[1], 1234)->temperature = 1.5f;
  Sample(requests[4], 9)->top_k = 3;
  Sample(requests[7], 5)->top_p = 0.8f;
  SamplingParams* penalized = Sample(requests[9], 77);
  penalized->temperature = 0.8f;
  penalized->repetition_penalty = 1.5f;
  Sample(requests[10], 3)->typical_p = 0.9f;
  requests[3].keep_all_logits = true;
  requests[6].eos_token_id = 5;
  requests[6].min_new_tokens = 2;
  requests[11].sampling.repetition_penalty = 2.0f;  // greedy with a penalty
  return requests;
}

// Submits `first` requests, steps once, then submits one more per step;
// runs until idle. After each step the engine's running count must be the
// slots it holds (in-flight sequences included).
EngineRun RunRequests(StepExecutor& executor, const std::vector<GenerationRequest>& requests,
                      EngineOptions options = {}, size_t first = 3) {
  EngineRun run;
  options.on_step = [&](const StepRecord& r) { run.steps.push_back(r); };
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  {
    Engine engine(executor, options);
    size_t submitted = 0;
    auto submit = [&] {
      sinks.push_back(std::make_shared<CollectingSink>());
      EXPECT_TRUE(engine.Submit(requests[submitted++], sinks.back()).ok());
    };
    while (submitted < std::min(first, requests.size())) submit();
    for (int steps = 0; steps < 1000; ++steps) {
      absl::StatusOr<bool> stepped = engine.StepOnce();
      EXPECT_TRUE(stepped.ok()) << stepped.status();
      if (!stepped.ok()) break;
      const KvCache& cache = executor.kv_cache();
      int32_t active = 0;
      for (int32_t s = 0; s < cache.shape().max_sequences; ++s) active += cache.IsActive(s);
      EXPECT_EQ(engine.counters().running, active);
      EXPECT_EQ(engine.counters().free_kv_blocks, cache.FreeBlocks());
      if (submitted < requests.size()) {
        submit();
      } else if (!*stepped) {
        break;
      }
    }
    run.preemptions = engine.counters().preemptions;
    EXPECT_FALSE(engine.HasWork());
  }
  for (const auto& sink : sinks) {
    EXPECT_EQ(sink->finishes, 1);
    run.outcomes.push_back(sink->result.value_or(absl::InternalError("no outcome")));
    if (run.outcomes.back().ok()) EXPECT_EQ(sink->tokens, run.outcomes.back()->tokens);
  }
  EXPECT_EQ(executor.kv_cache().FreeBlocks(), executor.kv_cache().shape().num_blocks);
  return run;
}

// `argmax_logprobs`: a token the device argmax chose has no logprob (NaN)
// and one the host sampler chose has one; which of the two a token went
// through depends on what it was packed with, so there a NaN matches.
const EngineRun& EngineInFlightTest::MixedReference() {
  if (reference_ == nullptr) {
    auto cpu = Cpu();
    reference_ = new EngineRun(RunRequests(*cpu, MixedRequests()));
  }
  return *reference_;
}

// Submits requests[0, count) to `engine`; their sinks.
std::vector<std::shared_ptr<CollectingSink>> SubmitAll(
    Engine& engine, const std::vector<GenerationRequest>& requests, size_t count) {
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  for (size_t i = 0; i < count; ++i) {
    sinks.push_back(std::make_shared<CollectingSink>());
    EXPECT_TRUE(engine.Submit(requests[i], sinks.back()).ok());
  }
  return sinks;
}

void ExpectSameOutcomes(const EngineRun& run, const EngineRun& reference,
                        bool argmax_logprobs = false) {
  ASSERT_EQ(run.outcomes.size(), reference.outcomes.size());
  for (size_t i = 0; i < run.outcomes.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(run.outcomes[i].ok()) << run.outcomes[i].status();
    ASSERT_TRUE(reference.outcomes[i].ok()) << reference.outcomes[i].status();
    const GenerationOutcome& got = *run.outcomes[i];
    const GenerationOutcome& want = *reference.outcomes[i];
    EXPECT_EQ(got.tokens, want.tokens);
    if (argmax_logprobs) {
      ASSERT_EQ(got.logprobs.size(), want.logprobs.size());
      for (size_t k = 0; k < got.logprobs.size(); ++k) {
        if (std::isnan(got.logprobs[k]) || std::isnan(want.logprobs[k])) continue;
        EXPECT_EQ(got.logprobs[k], want.logprobs[k]) << k;
      }
    } else {
      EXPECT_TRUE(SameFloats(got.logprobs, want.logprobs));
    }
    EXPECT_TRUE(SameFloats(got.logits, want.logits));
    EXPECT_EQ(got.logit_rows, want.logit_rows);
    EXPECT_EQ(got.finish_reason, want.finish_reason);
  }
}

TEST_F(EngineInFlightTest, TokensDoNotDependOnStepsInFlight) {
  const std::vector<GenerationRequest> requests = MixedRequests();
  const EngineRun& reference = MixedReference();
  // The requests do what they are there for.
  ASSERT_TRUE(reference.outcomes[6].ok());
  EXPECT_GE(reference.outcomes[6]->tokens.size(), 2u);
  ASSERT_TRUE(reference.outcomes[3].ok());
  EXPECT_GT(reference.outcomes[3]->logit_rows, 0);
  for (int m : {2, 3}) {
    SCOPED_TRACE(m);
    auto deferred = Deferred(m);
    const EngineRun run = RunRequests(*deferred, requests);
    ExpectSameOutcomes(run, reference);
    EXPECT_EQ(deferred->most_in_flight(), m);
    EXPECT_EQ(deferred->in_flight(), 0);
    for (const StepRecord& r : run.steps) {
      EXPECT_GE(r.ms, 0);
      EXPECT_FALSE(r.greedy_step || r.device_choice);
    }
    EXPECT_EQ(static_cast<int>(run.steps.size()), deferred->kinds_begun(StepKind::kLogits));
  }
}

TEST_F(EngineInFlightTest, PreemptionWithStepsInFlightKeepsTheTokens) {
  const std::vector<GenerationRequest> requests = MixedRequests();
  const EngineRun& reference = MixedReference();
  EXPECT_EQ(reference.preemptions, 0);
  // 7 blocks of 4 positions for 5 slots that need up to 5 each.
  auto small_cpu = Cpu(7);
  EXPECT_GT(RunRequests(*small_cpu, requests, {}, requests.size()).preemptions, 0);
  for (int m : {2, 3}) {
    SCOPED_TRACE(m);
    auto deferred = Deferred(m, 7);
    const EngineRun run = RunRequests(*deferred, requests, {}, requests.size());
    ExpectSameOutcomes(run, reference);
    EXPECT_GT(run.preemptions, 0);
    EXPECT_GT(deferred->most_in_flight(), 1);
    int32_t per_request = 0;
    for (const auto& o : run.outcomes) per_request += o.ok() ? o->preemptions : 0;
    EXPECT_EQ(per_request, run.preemptions);
  }
}

// Two sequences that each fit the pool but not together: while one's step
// is in flight, the other cannot grow. That is no "cannot hold a single
// sequence" error: it waits for the step, and preemption decides with none
// in flight, so both finish with their tokens.
TEST_F(EngineInFlightTest, ASequenceThatCannotGrowWhileAnotherIsInFlightWaits) {
  // 12 + 9 - 1 = 20 positions each: 5 blocks of the 7.
  const std::vector<GenerationRequest> requests = {Request(12, 600, 9), Request(12, 601, 9)};
  auto cpu = Cpu();
  const EngineRun reference = RunRequests(*cpu, requests, {}, requests.size());
  auto deferred = Deferred(2, 7);
  const EngineRun run = RunRequests(*deferred, requests, {}, requests.size());
  ExpectSameOutcomes(run, reference);
  EXPECT_EQ(deferred->most_in_flight(), 2);
  EXPECT_GT(run.preemptions, 0);
}

// Submissions and a cancel from another thread while the engine thread
// keeps steps in flight (also run under ThreadSanitizer).
TEST_F(EngineInFlightTest, SubmissionsAndACancelFromAnotherThread) {
  const std::vector<GenerationRequest> requests = MixedRequests();
  const EngineRun& reference = MixedReference();
  auto deferred = Deferred(3);
  Engine engine(*deferred);
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  for (size_t i = 0; i < requests.size(); ++i) sinks.push_back(std::make_shared<CollectingSink>());
  std::atomic<bool> stop{false};
  std::thread engine_thread([&] {
    while (!stop.load()) {
      if (!engine.WaitForWork(absl::Milliseconds(5))) continue;
      absl::StatusOr<bool> stepped = engine.StepOnce();
      EXPECT_TRUE(stepped.ok()) << stepped.status();
    }
  });
  constexpr size_t kVictim = 9;  // 12 new tokens
  for (size_t i = 0; i < requests.size(); ++i) {
    absl::StatusOr<RequestId> id = engine.Submit(requests[i], sinks[i]);
    ASSERT_TRUE(id.ok()) << id.status();
    if (i == kVictim) engine.Cancel(*id);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (engine.HasWork() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  stop.store(true);
  engine_thread.join();
  ASSERT_FALSE(engine.HasWork());
  EXPECT_EQ(engine.counters().running, 0);
  for (size_t i = 0; i < requests.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_EQ(sinks[i]->finishes, 1);
    ASSERT_TRUE(sinks[i]->result->ok()) << sinks[i]->result->status();
    const GenerationOutcome& got = **sinks[i]->result;
    const std::vector<int32_t>& full = reference.outcomes[i]->tokens;
    if (i == kVictim) {
      EXPECT_EQ(got.finish_reason, FinishReason::kCancelled);
      ASSERT_LE(got.tokens.size(), full.size());
      EXPECT_EQ(got.tokens, std::vector<int32_t>(full.begin(), full.begin() + got.tokens.size()));
    } else {
      EXPECT_EQ(got.tokens, full);
    }
  }
  EXPECT_GT(deferred->most_in_flight(), 1);
  EXPECT_EQ(deferred->kv_cache().FreeBlocks(), deferred->kv_cache().shape().num_blocks);
}

// EngineOptions::greedy_step and device_choice say what the backend can do;
// with steps in flight they pick the step's kind (kGreedy, kChoose) and are
// never called. The reference calls them one step at a time over the plain
// CPU executor, with the same argmax and the same reference device choice.
TEST_F(EngineInFlightTest, StepKindsFollowWhatTheOptionsSayTheBackendCanDo) {
  std::vector<GenerationRequest> greedy_only;
  for (int i = 0; i < 7; ++i) greedy_only.push_back(Request(2 + 2 * i, 400 + i, 8));
  greedy_only[2].keep_all_logits = true;  // its steps keep logits: kLogits
  const std::vector<GenerationRequest> mixed = MixedRequests();

  auto reference_options = [](CpuExecutor& cpu, std::vector<int32_t>& ids, StepOutcome& chosen,
                              bool device_choice) {
    EngineOptions options;
    if (device_choice) {
      options.device_choice = [&cpu, &chosen](
                                  const StepBatch& batch,
                                  const TokenChoices& choices) -> absl::StatusOr<ChosenTokens> {
        if (absl::Status s = cpu.Step(batch); !s.ok()) return s;
        chosen = testing::ChooseRows(cpu.logits(), cpu.vocab_size(), choices);
        return ChosenTokens{chosen.ids, chosen.logprobs};
      };
    } else {
      options.greedy_step =
          [&cpu, &ids](const StepBatch& batch) -> absl::StatusOr<absl::Span<const int32_t>> {
        if (absl::Status s = cpu.Step(batch); !s.ok()) return s;
        ids.clear();
        for (size_t r = 0; r < batch.logit_rows.size(); ++r) {
          ids.push_back(ArgMaxOf(cpu.logits().subspan(r * cpu.vocab_size(), cpu.vocab_size())));
        }
        return absl::Span<const int32_t>(ids);
      };
    }
    return options;
  };
  EngineOptions never_called;
  never_called.greedy_step = [](const StepBatch&) -> absl::StatusOr<absl::Span<const int32_t>> {
    ADD_FAILURE() << "greedy_step called with steps in flight";
    return absl::InternalError("greedy_step called");
  };
  never_called.device_choice = [](const StepBatch&,
                                  const TokenChoices&) -> absl::StatusOr<ChosenTokens> {
    ADD_FAILURE() << "device_choice called with steps in flight";
    return absl::InternalError("device_choice called");
  };

  for (bool device_choice : {false, true}) {
    SCOPED_TRACE(device_choice ? "device_choice" : "greedy_step");
    const std::vector<GenerationRequest>& requests = device_choice ? mixed : greedy_only;
    auto cpu = Cpu();
    std::vector<int32_t> ids;
    StepOutcome chosen;
    const EngineRun reference =
        RunRequests(*cpu, requests, reference_options(*cpu, ids, chosen, device_choice));
    EngineOptions options = never_called;
    if (device_choice) {
      options.greedy_step = nullptr;
    } else {
      options.device_choice = nullptr;
    }
    auto deferred = Deferred(3);
    const EngineRun run = RunRequests(*deferred, requests, options);
    ExpectSameOutcomes(run, reference, /*argmax_logprobs=*/!device_choice);
    EXPECT_GT(deferred->most_in_flight(), 1);
    const StepKind fused = device_choice ? StepKind::kChoose : StepKind::kGreedy;
    EXPECT_GT(deferred->kinds_begun(fused), 0);
    EXPECT_GT(deferred->kinds_begun(StepKind::kLogits), 0);  // the kept-logits steps
    int fused_records = 0;
    for (const StepRecord& r : run.steps) {
      fused_records += device_choice ? r.device_choice : r.greedy_step;
    }
    EXPECT_EQ(fused_records, deferred->kinds_begun(fused));
  }
}

// A cancel taken in while the request's step is in flight ends it when
// that step finishes: the slot stays active for the step (DeferringExecutor
// checks it when the step runs) and the step's token is not handed on.
TEST_F(EngineInFlightTest, CancelOfASequenceInFlightFreesItsSlotAfterItsStepFinishes) {
  const std::vector<GenerationRequest> requests = MixedRequests();
  const EngineRun& reference = MixedReference();
  auto deferred = Deferred(2);
  const KvCache& cache = deferred->kv_cache();
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  std::optional<size_t> tokens_at_cancel;
  {
    Engine engine(*deferred);
    std::vector<RequestId> ids;
    for (const GenerationRequest& r : requests) {
      sinks.push_back(std::make_shared<CollectingSink>());
      ids.push_back(engine.Submit(r, sinks.back()).value_or(0));
    }
    // Admitted in submission order into free slots: request 1 (10 new
    // tokens) holds slot 1 until it ends.
    for (int steps = 0; steps < 1000; ++steps) {
      if (!tokens_at_cancel && sinks[1]->tokens.size() >= 3 && deferred->InFlight(1)) {
        engine.Cancel(ids[1]);
        tokens_at_cancel = sinks[1]->tokens.size();
      }
      absl::StatusOr<bool> stepped = engine.StepOnce();
      ASSERT_TRUE(stepped.ok()) << stepped.status();
      if (tokens_at_cancel && sinks[1]->finishes == 0) {
        EXPECT_TRUE(cache.IsActive(1)) << "freed before its step finished";
      }
      if (!*stepped) break;
    }
  }
  ASSERT_TRUE(tokens_at_cancel.has_value()) << "request 1 was never in flight with 3 tokens";
  ASSERT_EQ(sinks[1]->finishes, 1);
  ASSERT_TRUE(sinks[1]->result->ok());
  const GenerationOutcome& cancelled = **sinks[1]->result;
  EXPECT_EQ(cancelled.finish_reason, FinishReason::kCancelled);
  EXPECT_EQ(cancelled.tokens.size(), *tokens_at_cancel);
  EXPECT_EQ(sinks[1]->tokens, cancelled.tokens);
  const std::vector<int32_t>& full = reference.outcomes[1]->tokens;
  ASSERT_LT(cancelled.tokens.size(), full.size());
  EXPECT_EQ(cancelled.tokens,
            std::vector<int32_t>(full.begin(), full.begin() + cancelled.tokens.size()));
  for (size_t i = 0; i < requests.size(); ++i) {
    if (i == 1) continue;
    SCOPED_TRACE(i);
    ASSERT_EQ(sinks[i]->finishes, 1);
    ASSERT_TRUE(sinks[i]->result->ok());
    EXPECT_EQ((*sinks[i]->result)->tokens, reference.outcomes[i]->tokens);
  }
  EXPECT_EQ(cache.FreeBlocks(), cache.shape().num_blocks);
}

// A failed FinishStep ends its step's requests and every step still in
// flight (the executor may be unusable after it) with the error; requests
// in no step carry on, and new ones are served once the executor works.
TEST_F(EngineInFlightTest, AFailedFinishStepFailsItsStepAndTheOthersInFlight) {
  const std::vector<GenerationRequest> requests = MixedRequests();
  const EngineRun& reference = MixedReference();
  auto deferred = Deferred(3);
  deferred->fail_finish_at = 6;
  Engine engine(*deferred);
  std::vector<std::shared_ptr<CollectingSink>> sinks = SubmitAll(engine, requests, 8);
  std::optional<absl::Status> failure;
  std::vector<bool> failed_then(8);
  for (int steps = 0; steps < 1000; ++steps) {
    absl::StatusOr<bool> stepped = engine.StepOnce();
    if (!stepped.ok()) {
      ASSERT_FALSE(failure.has_value()) << "a second failure: " << stepped.status();
      failure = stepped.status();
      EXPECT_EQ(deferred->in_flight(), 0);  // the others were finished before their slots freed
      for (size_t i = 0; i < 8; ++i)
        failed_then[i] = sinks[i]->finishes == 1 && !sinks[i]->result->ok();
      continue;
    }
    if (!*stepped) break;
  }
  ASSERT_TRUE(failure.has_value());
  EXPECT_NE(failure->message().find("deferred: FinishStep failed"), absl::string_view::npos);
  EXPECT_GE(deferred->abandoned_at_failure, 1);
  int failed = 0;
  for (size_t i = 0; i < 8; ++i) {
    SCOPED_TRACE(i);
    ASSERT_EQ(sinks[i]->finishes, 1);
    if (!sinks[i]->result->ok()) {
      ++failed;
      EXPECT_TRUE(failed_then[i]);  // failed at that step, not later
      EXPECT_EQ(sinks[i]->result->status(), *failure);
    } else {
      EXPECT_EQ((*sinks[i]->result)->tokens, reference.outcomes[i]->tokens);
    }
  }
  // One request per slot of the failed steps.
  EXPECT_EQ(failed, static_cast<int>(deferred->failed_slots.size()));
  EXPECT_LT(failed, 8);

  // The executor works again: the remaining requests are served as ever.
  for (size_t i = 8; i < requests.size(); ++i) {
    sinks.push_back(std::make_shared<CollectingSink>());
    ASSERT_TRUE(engine.Submit(requests[i], sinks.back()).ok());
  }
  for (int steps = 0; steps < 1000; ++steps) {
    absl::StatusOr<bool> stepped = engine.StepOnce();
    ASSERT_TRUE(stepped.ok()) << stepped.status();
    if (!*stepped) break;
  }
  for (size_t i = 8; i < requests.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_EQ(sinks[i]->finishes, 1);
    ASSERT_TRUE(sinks[i]->result->ok()) << sinks[i]->result->status();
    EXPECT_EQ((*sinks[i]->result)->tokens, reference.outcomes[i]->tokens);
  }
  EXPECT_EQ(deferred->kv_cache().FreeBlocks(), deferred->kv_cache().shape().num_blocks);
}

// A failed BeginStep ends only that step's requests; the steps in flight
// and the rest carry on.
TEST_F(EngineInFlightTest, AFailedBeginStepFailsOnlyItsStep) {
  const std::vector<GenerationRequest> requests = MixedRequests();
  const EngineRun& reference = MixedReference();
  auto deferred = Deferred(3);
  deferred->fail_begin_at = 4;
  Engine engine(*deferred);
  const std::vector<std::shared_ptr<CollectingSink>> sinks =
      SubmitAll(engine, requests, requests.size());
  int errors = 0;
  for (int steps = 0; steps < 1000; ++steps) {
    absl::StatusOr<bool> stepped = engine.StepOnce();
    if (!stepped.ok()) {
      ++errors;
      EXPECT_NE(stepped.status().message().find("deferred: BeginStep failed"),
                absl::string_view::npos);
      continue;
    }
    if (!*stepped) break;
  }
  EXPECT_EQ(errors, 1);
  int failed = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_EQ(sinks[i]->finishes, 1);
    if (!sinks[i]->result->ok()) {
      ++failed;
      EXPECT_NE(sinks[i]->result->status().message().find("deferred: BeginStep failed"),
                absl::string_view::npos);
    } else {
      EXPECT_EQ((*sinks[i]->result)->tokens, reference.outcomes[i]->tokens);
    }
  }
  EXPECT_GE(failed, 1);
  EXPECT_LT(failed, static_cast<int>(requests.size()));
  EXPECT_EQ(deferred->kv_cache().FreeBlocks(), deferred->kv_cache().shape().num_blocks);
}

// The engine over a real pipeline (PipelineGroup: each stage on its own
// thread, the hidden state handed stage to stage) keeps pp steps in flight
// and gives the whole model's tokens one step at a time, bit for bit (a cut
// changes no arithmetic at tp=1).
TEST_F(EngineInFlightTest, OverAPipelineGroupTheTokensAreTheWholeModels) {
  const std::vector<GenerationRequest> requests = MixedRequests();
  const EngineRun& reference = MixedReference();
  for (const auto& [pp, cuts] :
       {std::pair<int, std::vector<int>>{2, {1}}, std::pair<int, std::vector<int>>{3, {1, 2}}}) {
    SCOPED_TRACE(pp);
    const std::string plan_dir = *dir_ + "/pp" + std::to_string(pp);
    ASSERT_EQ(0, std::system(("mkdir -p " + plan_dir).c_str()));
    testing::WriteTpPipelineDir(plan_dir, Dims(kBigPool), *dir_, 1, cuts);
    PipelineGroupOptions options;
    options.ranks.make_executor = CpuRankExecutors();
    options.ranks.collective_timeout = absl::Seconds(60);
    absl::StatusOr<std::unique_ptr<PipelineGroup>> group =
        PipelineGroup::CreateThreaded(plan_dir, options);
    ASSERT_TRUE(group.ok()) << group.status();
    ASSERT_EQ((*group)->max_steps_in_flight(), pp);
    int most_sequences = 0;
    const EngineRun run = RunRequests(**group, requests);
    ExpectSameOutcomes(run, reference);
    for (const StepRecord& r : run.steps) most_sequences = std::max(most_sequences, r.sequences);
    // Micro-batches: no step took all five slots' sequences.
    EXPECT_LT(most_sequences, 5);
  }
}

TEST_F(EngineInFlightTest, DestroyingTheEngineFinishesTheStepsInFlightFirst) {
  auto deferred = Deferred(3);
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  {
    Engine engine(*deferred);
    for (int i = 0; i < 5; ++i) {
      sinks.push_back(std::make_shared<CollectingSink>());
      ASSERT_TRUE(engine.Submit(Request(3 + i, 500 + i, 10), sinks.back()).ok());
    }
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(engine.StepOnce().ok());
    ASSERT_GT(deferred->in_flight(), 0);
  }
  // Each step ran with its slots still active (checked as it ran).
  EXPECT_EQ(deferred->in_flight(), 0);
  for (const auto& sink : sinks) {
    ASSERT_EQ(sink->finishes, 1);
    ASSERT_FALSE(sink->result->ok());
    EXPECT_EQ(sink->result->status().code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_EQ(deferred->kv_cache().FreeBlocks(), deferred->kv_cache().shape().num_blocks);
}

}  // namespace
}  // namespace bloom
