// Pipeline-parallel plans on the CUDA backend: the golden cases compiled
// with --pp=2 run as a PipelineGroup (runtime/parallel/pipeline_group.h) of
// two stages, each a one-rank RankGroup of a CudaExecutor
// (runtime/cuda/cuda_rank_executor.h), the hidden state going from stage 0
// to stage 1 through host memory (StepBatch::hidden_in, hidden_out).
//
// Against two references outside the pipeline code:
//   - transformers' goldens: the same greedy tokens, and logits within the
//     bounds golden_gpu_test.cpp puts on the pp=1 plans (fp32: every logit
//     within 1e-3; bf16: normalised error within 3e-2);
//   - the pp=1 plan of the same case on a lone CudaExecutor: the same
//     greedy tokens, and logits within the same bound. In fp32 a cut
//     changes no arithmetic (0 on the H200). In bf16 it changes one
//     rounding: the pp=1 plan fuses the residual add with the next layer's
//     LayerNorm (add_layer_norm normalises the float32 sum), while stage 1
//     normalises the sum as stage 0 stored it, in bf16 (on the H200, 0.04
//     to 0.06 absolute, 3.5e-3 to 5e-3 normalised; the CPU backend gives
//     the same).
// The last stage's device choice: StepGreedy and StepAndChoose through the
// pipeline give the pp=1 plan's ids (and log-probabilities).
// And the steps-in-flight contract on the GPU: two sequences whose steps
// are begun before the previous one is finished (BeginStep, BeginStep,
// FinishStep, ...: stage 0 runs one sequence's step while stage 1 runs the
// other's, on two streams of the one GPU) give the logits the same steps
// give one at a time.
//
// On a one-GPU machine both stages share the GPU (each stage's rank is
// local rank 0 of its own group).
//
// Plans: $BLOOM_GPU_PLANS/<case>.pp2[.bf16] and the pp=1
// $BLOOM_GPU_PLANS/<case>[.bf16] (scripts/gpu/pipeline.sh prepare
// compiles them).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/cuda_executor.h"
#include "runtime/cuda/cuda_rank_executor.h"
#include "runtime/parallel/pipeline_group.h"
#include "test/gpu/golden_case.h"
#include "test/gpu/gpu_test_util.h"
#include "test/support/generator.h"

namespace bloom::gpu_test {
namespace {

struct PpCase {
  std::string name;
  bool bf16;
};
// For gtest's listing of the parameter (not its bytes).
void PrintTo(const PpCase &c, std::ostream *os) { *os << c.name << (c.bf16 ? " bf16" : " fp32"); }

std::string PlanDir(const std::string &plans, const PpCase &c, bool pipeline) {
  return absl::StrCat(plans, "/", c.name, pipeline ? ".pp2" : "", c.bf16 ? ".bf16" : "");
}

absl::StatusOr<std::unique_ptr<PipelineGroup>> OpenPipeline(const std::string &plan_dir,
                                                            const std::string &checkpoint_dir) {
  PipelineGroupOptions options;
  options.ranks.executor.checkpoint_dir = checkpoint_dir;
  options.ranks.make_executor = CudaRankExecutors();
  options.ranks.collective_timeout = absl::Seconds(60);
  return PipelineGroup::CreateThreaded(plan_dir, options);
}

double MaxAbsDiff(const std::vector<float> &a, const std::vector<float> &b) {
  if (a.size() != b.size()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(double{a[i]} - b[i]);
    if (std::isnan(d)) return NAN;
    worst = std::max(worst, d);
  }
  return worst;
}

class PipelineOnGpu : public ::testing::TestWithParam<PpCase> {
 protected:
  void SetUp() override {
    if (!HasGpu()) GTEST_SKIP() << "no CUDA GPU";
    const char *plans = std::getenv("BLOOM_GPU_PLANS");
    if (plans == nullptr) GTEST_SKIP() << "BLOOM_GPU_PLANS is not set (scripts/gpu/pipeline.sh prepare)";
    pp2_dir_ = PlanDir(plans, GetParam(), true);
    pp1_dir_ = PlanDir(plans, GetParam(), false);
    if (!IsDirectory(pp2_dir_)) GTEST_SKIP() << "no compiled plan at " << pp2_dir_;
    absl::StatusOr<GoldenCase> golden = LoadGoldenCase(GetParam().name);
    ASSERT_TRUE(golden.ok()) << golden.status();
    golden_ = *std::move(golden);
  }

  // The pp=1 plan of the same case on one CudaExecutor.
  absl::StatusOr<std::unique_ptr<CudaExecutor>> OpenPp1() const {
    if (!IsDirectory(pp1_dir_)) return absl::NotFoundError("no pp=1 plan at " + pp1_dir_);
    absl::StatusOr<LoadedPlan> plan = LoadedPlan::Load(pp1_dir_);
    if (!plan.ok()) return plan.status();
    ExecutorOptions options;
    options.checkpoint_dir = golden_.checkpoint_dir;
    return CudaExecutor::Create(*std::move(plan), options);
  }

  std::string pp2_dir_, pp1_dir_;
  GoldenCase golden_;
};

TEST_P(PipelineOnGpu, TokensAndLogitsMatchPp1AndTransformers) {
  const bool bf16 = GetParam().bf16;
  absl::StatusOr<std::unique_ptr<PipelineGroup>> group =
      OpenPipeline(pp2_dir_, golden_.checkpoint_dir);
  ASSERT_TRUE(group.ok()) << group.status();
  ASSERT_EQ((*group)->pp_size(), 2);
  ASSERT_EQ((*group)->tp_size(), 1);

  GenerationOptions generation;
  generation.max_new_tokens = static_cast<int32_t>(golden_.tokens.size());
  generation.keep_all_logits = true;
  absl::StatusOr<GenerationResult> pp2 = GenerateGreedy(**group, golden_.prompt, generation);
  ASSERT_TRUE(pp2.ok()) << pp2.status();
  EXPECT_EQ(pp2->tokens, golden_.tokens) << pp2_dir_ << ": greedy tokens differ from transformers'";
  absl::StatusOr<LogitErrors> errors = CompareLogits(pp2->logits, golden_);
  ASSERT_TRUE(errors.ok()) << errors.status();

  // The pp=1 plan of the same case on one CudaExecutor.
  absl::StatusOr<std::unique_ptr<CudaExecutor>> whole = OpenPp1();
  ASSERT_TRUE(whole.ok()) << whole.status();
  absl::StatusOr<GenerationResult> pp1 = GenerateGreedy(**whole, golden_.prompt, generation);
  ASSERT_TRUE(pp1.ok()) << pp1.status();
  EXPECT_EQ(pp2->tokens, pp1->tokens) << pp2_dir_ << ": greedy tokens differ from the pp=1 plan's";
  const double from_pp1 = MaxAbsDiff(pp2->logits, pp1->logits);
  const double pp1_norm = NormalizedError(pp2->logits, pp1->logits);

  RecordProperty("max_abs_logit_error", std::to_string(errors->max_abs));
  RecordProperty("max_abs_diff_from_pp1", std::to_string(from_pp1));
  std::printf(
      "[pp] %s: %s, tokens %s, max |pp2 - transformers| = %.3g (normalised %.3g), "
      "max |pp2 - pp1| = %.3g (normalised %.3g)\n",
      pp2_dir_.c_str(), (*group)->device_name().c_str(),
      pp2->tokens == golden_.tokens && pp2->tokens == pp1->tokens ? "equal" : "DIFFER",
      errors->max_abs, errors->normalized, from_pp1, pp1_norm);
  if (bf16) {
    EXPECT_LE(errors->normalized, 3e-2) << pp2_dir_ << ": bf16 logits too far from the fp32 goldens";
    EXPECT_LE(pp1_norm, 3e-2) << pp2_dir_ << ": bf16 logits too far from the pp=1 plan's";
  } else {
    EXPECT_LE(errors->max_abs, 1e-3) << pp2_dir_ << ": logits differ from transformers' beyond 1e-3";
    EXPECT_LE(from_pp1, 1e-3) << pp2_dir_ << ": logits differ from the pp=1 plan's beyond 1e-3";
  }
}

// The last stage chooses the tokens on its GPU (StepGreedy, StepAndChoose
// through the pipeline): the prompt's prefill step, its last row chosen by
// argmax and by a sampled choice (temperature, top-k, top-p, a repetition
// penalty over the prompt, a fixed draw), against the pp=1 plan's
// CudaExecutor choosing from the same step. Greedy: the same id; the
// sampled choice: the same id and log-probability (fp32, where the logits
// are the pp=1 plan's bit for bit).
TEST_P(PipelineOnGpu, TheLastStageChoosesTheTokensOnTheGpu) {
  absl::StatusOr<std::unique_ptr<PipelineGroup>> group =
      OpenPipeline(pp2_dir_, golden_.checkpoint_dir);
  ASSERT_TRUE(group.ok()) << group.status();
  ASSERT_TRUE((*group)->has_greedy_step());
  ASSERT_TRUE((*group)->has_device_choice());
  absl::StatusOr<std::unique_ptr<CudaExecutor>> whole = OpenPp1();
  ASSERT_TRUE(whole.ok()) << whole.status();

  const std::vector<int32_t>& ids = golden_.prompt;
  std::vector<int32_t> positions(ids.size());
  for (size_t p = 0; p < ids.size(); ++p) positions[p] = static_cast<int32_t>(p);
  const std::vector<int32_t> rows = {static_cast<int32_t>(ids.size()) - 1};
  RowChoice sampled;
  sampled.sample = true;
  sampled.temperature = 0.8f;
  sampled.top_k = 40;
  sampled.top_p = 0.9f;
  sampled.repetition_penalty = 1.2f;
  sampled.uniform = 0.37;
  std::vector<int32_t> penalized = ids;
  std::sort(penalized.begin(), penalized.end());
  penalized.erase(std::unique(penalized.begin(), penalized.end()), penalized.end());
  sampled.penalty_count = static_cast<int32_t>(penalized.size());
  const std::vector<RowChoice> choice_rows = {sampled};
  const TokenChoices choices{choice_rows, penalized};

  struct Chosen {
    int32_t greedy = -1, sampled = -1;
    float logprob = 0;
  };
  auto choose = [&](StepExecutor& executor) -> absl::StatusOr<Chosen> {
    KvCache& kv = executor.kv_cache();
    Chosen out;
    for (int pass = 0; pass < 2; ++pass) {
      absl::StatusOr<int32_t> slot = kv.AddSequence();
      if (!slot.ok()) return slot.status();
      if (absl::Status st = kv.Reserve(*slot, static_cast<int32_t>(ids.size())); !st.ok()) return st;
      const std::vector<int32_t> slots(ids.size(), *slot);
      const StepBatch batch{ids, positions, slots, rows};
      if (pass == 0) {
        absl::StatusOr<absl::Span<const int32_t>> greedy = executor.StepGreedy(batch);
        if (!greedy.ok()) return greedy.status();
        out.greedy = (*greedy)[0];
      } else {
        absl::StatusOr<ChosenTokens> chosen = executor.StepAndChoose(batch, choices);
        if (!chosen.ok()) return chosen.status();
        out.sampled = chosen->ids[0];
        out.logprob = chosen->logprobs[0];
      }
      kv.RemoveSequence(*slot);
    }
    return out;
  };
  absl::StatusOr<Chosen> pp2 = choose(**group);
  ASSERT_TRUE(pp2.ok()) << pp2.status();
  absl::StatusOr<Chosen> pp1 = choose(**whole);
  ASSERT_TRUE(pp1.ok()) << pp1.status();
  std::printf("[pp] %s: device greedy %d (pp=1 %d), sampled %d logprob %.6f (pp=1 %d, %.6f)\n",
              pp2_dir_.c_str(), pp2->greedy, pp1->greedy, pp2->sampled, pp2->logprob, pp1->sampled,
              pp1->logprob);
  EXPECT_EQ(pp2->greedy, pp1->greedy);
  EXPECT_EQ(pp2->greedy, golden_.tokens.front());
  if (!GetParam().bf16) {
    EXPECT_EQ(pp2->sampled, pp1->sampled);
    EXPECT_NEAR(pp2->logprob, pp1->logprob, 1e-5);
  }
}

// Two sequences (the golden prompt and the same ids reversed): each one's
// prefill, then `decode_steps` decode steps each, alternating. Greedy
// tokens chosen on the host from each step's logits. With `in_flight` the
// next step is begun before the previous one is finished (two in flight,
// one per sequence: a sequence is in one step at a time); otherwise each
// step runs alone. Returns every step's logits, in the order begun.
absl::StatusOr<std::vector<std::vector<float>>> RunTwoSequences(StepExecutor &executor,
                                                                const std::vector<int32_t> &prompt,
                                                                int decode_steps, bool in_flight) {
  KvCache &kv = executor.kv_cache();
  struct Sequence {
    int32_t slot = -1;
    std::vector<int32_t> ids, positions, slots, rows;
  };
  std::vector<Sequence> seqs(2);
  seqs[0].ids = prompt;
  seqs[1].ids.assign(prompt.rbegin(), prompt.rend());
  for (Sequence &s : seqs) {
    absl::StatusOr<int32_t> slot = kv.AddSequence();
    if (!slot.ok()) return slot.status();
    s.slot = *slot;
    for (size_t p = 0; p < s.ids.size(); ++p) s.positions.push_back(static_cast<int32_t>(p));
    s.slots.assign(s.ids.size(), s.slot);
    s.rows = {static_cast<int32_t>(s.ids.size()) - 1};
  }
  auto begin = [&](Sequence &s) -> absl::Status {
    if (absl::Status st = kv.Reserve(s.slot, s.positions.back() + 1); !st.ok()) return st;
    return executor.BeginStep(StepBatch{s.ids, s.positions, s.slots, s.rows}, StepKind::kLogits);
  };
  // The sequence's next step from its last logits: one token at the next
  // position.
  auto advance = [&](Sequence &s, const std::vector<float> &logits) {
    const int32_t next_position = s.positions.back() + 1;
    s.ids = {ArgMax(logits)};
    s.positions = {next_position};
    s.slots = {s.slot};
    s.rows = {0};
  };
  std::vector<std::vector<float>> out;
  const int total = 2 * (1 + decode_steps);
  absl::Status status;
  if (in_flight) {
    // Begin 0's prefill and 1's prefill; then each finish (oldest first)
    // lets that sequence begin its next step, so two are always in flight.
    status = begin(seqs[0]);
    if (status.ok()) status = begin(seqs[1]);
    for (int k = 0; status.ok() && k < total; ++k) {
      absl::StatusOr<StepOutcome> outcome = executor.FinishStep();
      if (!outcome.ok()) {
        status = outcome.status();
        break;
      }
      out.push_back(outcome->logits);
      if (k + 2 < total) {
        Sequence &s = seqs[k % 2];
        advance(s, outcome->logits);
        status = begin(s);
      }
    }
  } else {
    for (int k = 0; status.ok() && k < total; ++k) {
      Sequence &s = seqs[k % 2];
      status = kv.Reserve(s.slot, s.positions.back() + 1);
      if (status.ok()) status = executor.Step(StepBatch{s.ids, s.positions, s.slots, s.rows});
      if (!status.ok()) break;
      const absl::Span<const float> logits = executor.logits();
      out.emplace_back(logits.begin(), logits.end());
      advance(s, out.back());
    }
  }
  for (Sequence &s : seqs) kv.RemoveSequence(s.slot);
  if (!status.ok()) return status;
  return out;
}

TEST_P(PipelineOnGpu, StepsInFlightGiveWhatTheyGiveOneAtATime) {
  absl::StatusOr<std::unique_ptr<PipelineGroup>> group =
      OpenPipeline(pp2_dir_, golden_.checkpoint_dir);
  ASSERT_TRUE(group.ok()) << group.status();
  ASSERT_EQ((*group)->max_steps_in_flight(), 2);
  const int decode_steps = static_cast<int>(golden_.tokens.size());
  absl::StatusOr<std::vector<std::vector<float>>> alone =
      RunTwoSequences(**group, golden_.prompt, decode_steps, /*in_flight=*/false);
  ASSERT_TRUE(alone.ok()) << alone.status();
  absl::StatusOr<std::vector<std::vector<float>>> overlapped =
      RunTwoSequences(**group, golden_.prompt, decode_steps, /*in_flight=*/true);
  ASSERT_TRUE(overlapped.ok()) << overlapped.status();
  ASSERT_EQ(overlapped->size(), alone->size());
  double worst = 0;
  for (size_t s = 0; s < alone->size(); ++s) {
    ASSERT_EQ((*overlapped)[s].size(), (*alone)[s].size()) << "step " << s;
    ASSERT_FALSE((*alone)[s].empty()) << "step " << s << " returned no logits";
    worst = std::max(worst, MaxAbsDiff((*overlapped)[s], (*alone)[s]));
    EXPECT_EQ(ArgMax((*overlapped)[s]), ArgMax((*alone)[s])) << pp2_dir_ << " step " << s;
  }
  // The same kernels on the same inputs: only a race (a stage reading a
  // buffer another step is still writing) would move them.
  std::printf("[pp] %s: %zu steps two in flight, max |in flight - one at a time| = %.3g\n",
              pp2_dir_.c_str(), alone->size(), worst);
  EXPECT_LE(worst, 1e-5) << pp2_dir_ << ": steps in flight change the logits";
  // The first sequence one at a time is the golden prompt's greedy run.
  EXPECT_EQ(ArgMax(alone->front()), golden_.tokens.front());
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PipelineOnGpu,
    ::testing::Values(PpCase{"f32-basic", false}, PpCase{"f32-basic", true},
                      PpCase{"f16-heads6", false}, PpCase{"f16-heads6", true},
                      PpCase{"bf16-long-prompt", false}, PpCase{"bf16-long-prompt", true},
                      PpCase{"sharded-bare-postln", false}, PpCase{"sharded-bare-postln", true},
                      PpCase{"tiny-random-text", false}, PpCase{"tiny-random-text", true}),
    [](const auto &info) {
      std::string name = absl::StrCat(info.param.name, "_pp2", info.param.bf16 ? "_bf16" : "_fp32");
      for (char &ch : name) {
        if (ch == '-') ch = '_';
      }
      return name;
    });

}  // namespace
}  // namespace bloom::gpu_test
