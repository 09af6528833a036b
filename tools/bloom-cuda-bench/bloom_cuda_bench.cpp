// bloom-cuda-bench: times the CUDA executor directly on a compiled plan (no
// generator, no tokenizer): greedy decode steps at several batch sizes and
// the time to first token of long prompts. One JSON object per line on
// stdout. This is the CUDA backend's own measuring tool (scripts/gpu/
// cuda_backend.sh runs it); the side-by-side comparison with transformers
// is benchmarks/gpu.
//
//   bloom-cuda-bench --plan=DIR [--checkpoint-dir=DIR] [--batches=1,8]
//       [--prompt=32] [--new-tokens=100] [--prefill=512,2048] [--no-graphs]
//       [--rank-group [--collectives=auto|nccl|host]]
//       [--gemv-max-rows=4] [--gemm-tune] [--decode-attention=auto|block]
//       [--profile=0|1|2 [--profile-gb-per-s=X] [--profile-tflops=X]]
//
// The executor's implementation choices (runtime/cuda/
// cuda_executor_options.h) are flags here, so that one binary can compare
// them side by side (scripts/gpu/cuda_backend.sh's VARIANTS).
//
// --rank-group runs the plan directory as bloom-run runs tensor-parallel
// plans (a RankGroup of CUDA ranks, a thread per rank, the leader's greedy
// step): for a tp=N plan on N GPUs, and for a tp=1 plan to show what the
// group's thread hop costs against the lone executor in the same run.
//
// Decode: B sequences get a random prompt (one prefill step when it fits
// max_batch_tokens), then new-tokens greedy steps of B tokens each through
// StepGreedy (argmax on the GPU). Each step is timed on the host clock from
// the call to its return (inputs uploaded, kernels or graph launched,
// tokens copied back): the latency a generator sees. The first two steps
// (eager run, then graph capture) are left out of the statistics.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "kernels/cuda/gemv.cuh"
#include "runtime/cuda/cuda_executor.h"
#include "runtime/cuda/cuda_rank_executor.h"
#include "runtime/cuda/device_probe.h"
#include "tools/common/command_line.h"

namespace bloom {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

std::vector<int64_t> ParseList(const std::string& text) {
  std::vector<int64_t> values;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int64_t v;
    if (absl::SimpleAtoi(part, &v) && v > 0) values.push_back(v);
  }
  return values;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "bloom-cuda-bench: %s\n", std::string(status.message()).c_str());
  return 1;
}

absl::Status BadFlag(const std::string& flag, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", problem));
}

// A ceiling flag's value in units of `unit`, into `rate`, when given.
absl::Status ReadCeiling(const tools::CommandLine& cl, const std::string& flag, double unit,
                         double* rate) {
  if (!cl.Has(flag)) return absl::OkStatus();
  const double value = cl.GetDouble(flag);
  if (!std::isfinite(value) || value <= 0) {
    return BadFlag(flag, absl::StrCat("expected a positive number, got ", value));
  }
  *rate = value * unit;
  return absl::OkStatus();
}

// The executor's options from the flags; InvalidArgument naming the flag.
absl::StatusOr<CudaExecutorOptions> ReadCudaOptions(const tools::CommandLine& cl) {
  CudaExecutorOptions cuda;
  const int64_t gemv = cl.GetInt("gemv-max-rows");
  if (gemv < 0 || gemv > cuda::kGemvMaxRows) {
    return BadFlag("gemv-max-rows", absl::StrCat("must be in [0, ", cuda::kGemvMaxRows, "]"));
  }
  cuda.gemm.gemv_max_rows = gemv;
  cuda.gemm.tune = cl.GetBool("gemm-tune");
  absl::StatusOr<cuda::DecodeAttentionKernel> decode_attention =
      ParseDecodeAttentionKernel(cl.GetString("decode-attention"));
  if (!decode_attention.ok()) {
    return BadFlag("decode-attention", std::string(decode_attention.status().message()));
  }
  cuda.decode_attention = *decode_attention;
  absl::StatusOr<std::optional<CudaCollectives>> collectives =
      ParseCudaCollectives(cl.GetString("collectives"));
  if (!collectives.ok()) return BadFlag("collectives", std::string(collectives.status().message()));
  cuda.collectives = *collectives;
  const int64_t profile = cl.GetInt("profile");
  if (profile < 0 || profile > 2) return BadFlag("profile", "must be 0, 1 or 2");
  cuda.profile = static_cast<int>(profile);
  if (absl::Status s = ReadCeiling(cl, "profile-gb-per-s", 1e9, &cuda.profile_ceilings.bytes_per_s);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadCeiling(cl, "profile-tflops", 1e12, &cuda.profile_ceilings.flops_per_s);
      !s.ok()) {
    return s;
  }
  return cuda;
}

// `graphs` says how many decode graphs the executor holds (-1: unknown).
absl::Status Decode(StepExecutor& gpu, int64_t batch, int64_t prompt, int64_t new_tokens,
                    std::mt19937& rng, const std::function<int()>& graphs) {
  KvCache& cache = gpu.kv_cache();
  const auto* limits = gpu.plan().limits();
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(gpu.vocab_size() - 1));
  std::vector<int32_t> slots;
  for (int64_t b = 0; b < batch; ++b) {
    absl::StatusOr<int32_t> slot = cache.AddSequence();
    if (!slot.ok()) return slot.status();
    absl::Status reserved = cache.Reserve(*slot, static_cast<int32_t>(prompt + new_tokens + 1));
    if (!reserved.ok()) return reserved;
    slots.push_back(*slot);
  }
  // Prefill: as many whole prompts per step as max_batch_tokens allows.
  std::vector<int32_t> next(batch);
  const int64_t per_step = std::max<int64_t>(1, limits->max_batch_tokens() / prompt);
  const auto prefill_start = Clock::now();
  for (int64_t first = 0; first < batch; first += per_step) {
    const int64_t n = std::min(per_step, batch - first);
    std::vector<int32_t> ids, positions, step_slots, rows;
    for (int64_t b = first; b < first + n; ++b) {
      for (int64_t p = 0; p < prompt; ++p) {
        ids.push_back(token(rng));
        positions.push_back(static_cast<int32_t>(p));
        step_slots.push_back(slots[b]);
      }
      rows.push_back(static_cast<int32_t>(ids.size() - 1));
    }
    absl::StatusOr<absl::Span<const int32_t>> out =
        gpu.StepGreedy({ids, positions, step_slots, rows});
    if (!out.ok()) return out.status();
    std::copy(out->begin(), out->end(), next.begin() + first);
  }
  const double prefill_ms = Ms(Clock::now() - prefill_start);

  std::vector<double> step_ms;
  std::vector<int32_t> first_sequence = {next[0]};  // its greedy tokens, to compare plans
  const WeightStreamStats streamed_before = gpu.weight_stream_totals();
  std::vector<int32_t> positions(batch, static_cast<int32_t>(prompt)), rows(batch);
  std::iota(rows.begin(), rows.end(), 0);
  for (int64_t s = 0; s < new_tokens; ++s) {
    const auto start = Clock::now();
    absl::StatusOr<absl::Span<const int32_t>> out = gpu.StepGreedy({next, positions, slots, rows});
    if (!out.ok()) return out.status();
    step_ms.push_back(Ms(Clock::now() - start));
    std::copy(out->begin(), out->end(), next.begin());
    first_sequence.push_back(next[0]);
    for (int32_t& p : positions) ++p;
  }
  const WeightStreamStats streamed_after = gpu.weight_stream_totals();
  const double streamed_per_step =
      step_ms.empty()
          ? 0.0
          : static_cast<double>(streamed_after.bytes - streamed_before.bytes) / step_ms.size();
  // Over the step (a tiered step is bound by the link, so this is the
  // link's achieved rate); the copy-engine time itself is not timed inside
  // replayed graphs.
  const double stream_gb_per_s =
      Median(step_ms) > 0 ? streamed_per_step / Median(step_ms) / 1e6 : 0.0;
  std::string tokens;
  for (int32_t t : first_sequence) absl::StrAppend(&tokens, tokens.empty() ? "" : ", ", t);
  for (int32_t slot : slots) cache.RemoveSequence(slot);
  std::vector<double> timed(step_ms.begin() + std::min<size_t>(2, step_ms.size()), step_ms.end());
  const double mean =
      timed.empty() ? 0.0 : std::accumulate(timed.begin(), timed.end(), 0.0) / timed.size();
  std::printf(
      "{\"kind\": \"decode\", \"batch\": %lld, \"prompt\": %lld, \"new_tokens\": %lld, "
      "\"prefill_ms\": %.3f, "
      "\"ms_per_step_median\": %.4f, \"ms_per_step_mean\": %.4f, \"ms_per_step_min\": %.4f, "
      "\"first_steps_ms\": [%.3f, %.3f], \"tokens_per_s\": %.1f, \"graphs\": %d, "
      "\"weight_bytes_streamed_per_step\": %.0f, \"weight_stream_gb_per_s\": %.2f, "
      "\"first_sequence_tokens\": [%s]}\n",
      static_cast<long long>(batch), static_cast<long long>(prompt),
      static_cast<long long>(new_tokens), prefill_ms, Median(timed), mean,
      timed.empty() ? 0.0 : *std::min_element(timed.begin(), timed.end()),
      step_ms.size() > 0 ? step_ms[0] : 0.0, step_ms.size() > 1 ? step_ms[1] : 0.0,
      mean > 0 ? batch * 1000.0 / mean : 0.0, graphs(), streamed_per_step, stream_gb_per_s,
      tokens.c_str());
  std::fflush(stdout);
  return absl::OkStatus();
}

absl::Status Prefill(StepExecutor& gpu, int64_t prompt, std::mt19937& rng) {
  KvCache& cache = gpu.kv_cache();
  if (prompt > gpu.plan().limits()->max_batch_tokens()) {
    return absl::InvalidArgumentError("--prefill longer than the plan's max_batch_tokens");
  }
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(gpu.vocab_size() - 1));
  std::vector<double> times;
  for (int repeat = 0; repeat < 4; ++repeat) {  // the first is a warm-up
    absl::StatusOr<int32_t> slot = cache.AddSequence();
    if (!slot.ok()) return slot.status();
    absl::Status reserved = cache.Reserve(*slot, static_cast<int32_t>(prompt));
    if (!reserved.ok()) return reserved;
    std::vector<int32_t> ids(prompt), positions(prompt), slots(prompt, *slot);
    for (int64_t p = 0; p < prompt; ++p) {
      ids[p] = token(rng);
      positions[p] = static_cast<int32_t>(p);
    }
    const int32_t last = static_cast<int32_t>(prompt - 1);
    const auto start = Clock::now();
    absl::StatusOr<absl::Span<const int32_t>> out =
        gpu.StepGreedy({ids, positions, slots, absl::MakeConstSpan(&last, 1)});
    if (!out.ok()) return out.status();
    if (repeat > 0) times.push_back(Ms(Clock::now() - start));
    cache.RemoveSequence(*slot);
  }
  std::printf(
      "{\"kind\": \"prefill\", \"prompt\": %lld, \"ttft_ms_median\": %.3f, \"ttft_ms_min\": "
      "%.3f}\n",
      static_cast<long long>(prompt), Median(times), *std::min_element(times.begin(), times.end()));
  std::fflush(stdout);
  return absl::OkStatus();
}

// The links a tiered plan's step is bound by (runtime/cuda/device_probe.h).
absl::Status Probe() {
  absl::StatusOr<DeviceLinks> links = ProbeDeviceLinks(size_t{1} << 30);
  if (!links.ok()) return links.status();
  std::printf(
      "{\"kind\": \"probe\", \"device_copy_gb_per_s\": %.1f, \"h2d_pinned_gb_per_s\": %.2f}\n",
      links->device_copy_gb_per_s, links->h2d_pinned_gb_per_s);
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  tools::CommandLine cl("bloom-cuda-bench", "--plan=DIR [flags]");
  cl.AddFlag("plan", tools::CommandLine::Kind::kString, "", "Plan directory.");
  cl.AddFlag("checkpoint-dir", tools::CommandLine::Kind::kString, "",
             "Weights (default: the plan's).");
  cl.AddFlag("batches", tools::CommandLine::Kind::kString, "", "Decode batch sizes, e.g. 1,8,32.");
  cl.AddFlag("prompt", tools::CommandLine::Kind::kInt, "32",
             "Prompt tokens per sequence for decode.");
  cl.AddFlag("new-tokens", tools::CommandLine::Kind::kInt, "100", "Decode steps per batch size.");
  cl.AddFlag("prefill", tools::CommandLine::Kind::kString, "",
             "Prompt lengths for time to first token.");
  cl.AddFlag("no-graphs", tools::CommandLine::Kind::kBool, "false", "Run decode steps eagerly.");
  cl.AddFlag("probe", tools::CommandLine::Kind::kBool, "false",
             "Measure device and pinned host-to-device copy bandwidth, then exit.");
  cl.AddFlag(
      "rank-group", tools::CommandLine::Kind::kBool, "false",
      "Run the plan directory as a RankGroup of CUDA ranks (a thread per rank), as "
      "bloom-run does for tensor-parallel plans; a tp=1 plan then runs as a one-rank group.");
  cl.AddFlag("collectives", tools::CommandLine::Kind::kString, "auto",
             "With --rank-group: auto (NCCL when every rank has a GPU of its own, else "
             "host-staged), nccl or host.");
  cl.AddFlag("gemv-max-rows", tools::CommandLine::Kind::kInt,
             std::to_string(cuda::LinearGemm::kDefaultGemvRows),
             "Linears of at most this many rows with 16-bit operands take the GEMV kernel "
             "instead of cuBLASLt (0 to 8; 0: never).");
  cl.AddFlag("gemm-tune", tools::CommandLine::Kind::kBool, "false",
             "Time up to 8 of cuBLASLt's candidate algorithms on each GEMM's first run and keep "
             "the fastest.");
  cl.AddFlag("decode-attention", tools::CommandLine::Kind::kString, "auto",
             "Decode attention's kernel: auto (the warp-per-split kernel where it applies) or "
             "block (the block-per-split kernel), for a side-by-side measurement.");
  cl.AddFlag("profile", tools::CommandLine::Kind::kInt, "0",
             "Per-instruction profile of the first replayed step of each decode bucket and "
             "the second run of each prefill shape, on stderr: 1 the table (and the "
             "instructions outside layers 1..), 2 every instruction.");
  cl.AddFlag("profile-gb-per-s", tools::CommandLine::Kind::kFloat, "3000",
             "The profile's device memory bandwidth ceiling, 10^9 bytes/s read + written (as "
             "--probe reports device_copy_gb_per_s). Default: an H100's.");
  cl.AddFlag("profile-tflops", tools::CommandLine::Kind::kFloat, "756",
             "The profile's dense 16-bit tensor-core ceiling, 10^12 FLOP/s. Default: an H100's.");
  if (absl::Status s = cl.Parse(argc, argv); !s.ok()) return Fail(s);
  if (cl.help_requested()) {
    std::fputs(cl.HelpText().c_str(), stdout);
    return 0;
  }
  if (cl.GetBool("probe")) {
    absl::Status probed = Probe();
    return probed.ok() ? 0 : Fail(probed);
  }
  absl::StatusOr<CudaExecutorOptions> cuda_options = ReadCudaOptions(cl);
  if (!cuda_options.ok()) return Fail(cuda_options.status());
  ExecutorOptions options;
  options.checkpoint_dir = cl.GetString("checkpoint-dir");
  const auto load_start = Clock::now();
  // A line on stderr at every tenth of the weights: a load that runs out
  // of time still says how far it got and how fast.
  options.on_weight_loaded = [load_start, last_tenth = size_t{0}](size_t done,
                                                                 size_t total) mutable {
    const size_t tenth = total == 0 ? 10 : 10 * done / total;
    if (tenth == last_tenth) return;
    last_tenth = tenth;
    std::fprintf(stderr, "bloom-cuda-bench: loaded %zu/%zu weights in %.1f s\n", done, total,
                 Ms(Clock::now() - load_start) / 1000.0);
  };
  std::unique_ptr<StepExecutor> executor;
  CudaExecutor* single = nullptr;  // the lone executor, when not a group
  if (cl.GetBool("rank-group")) {
    RankGroupOptions group_options;
    group_options.executor = options;
    group_options.make_executor = CudaRankExecutors(*cuda_options);
    absl::StatusOr<std::unique_ptr<RankGroup>> group =
        RankGroup::CreateThreaded(cl.GetString("plan"), group_options);
    if (!group.ok()) return Fail(group.status());
    executor = *std::move(group);
  } else {
    absl::StatusOr<LoadedPlan> plan = LoadedPlan::Load(cl.GetString("plan"));
    if (!plan.ok()) return Fail(plan.status());
    absl::StatusOr<std::unique_ptr<CudaExecutor>> cuda =
        CudaExecutor::Create(*std::move(plan), options, *cuda_options);
    if (!cuda.ok()) return Fail(cuda.status());
    single = cuda->get();
    single->set_use_graphs(!cl.GetBool("no-graphs"));
    executor = *std::move(cuda);
  }
  const double load_s = Ms(Clock::now() - load_start) / 1000.0;
  StepExecutor& gpu = *executor;
  std::mt19937 rng(1234);
  for (int64_t batch : ParseList(cl.GetString("batches"))) {
    if (absl::Status s =
            Decode(gpu, batch, cl.GetInt("prompt"), cl.GetInt("new-tokens"), rng,
                   [single] { return single != nullptr ? single->graphs_captured() : -1; });
        !s.ok()) {
      return Fail(s);
    }
  }
  for (int64_t prompt : ParseList(cl.GetString("prefill"))) {
    if (absl::Status s = Prefill(gpu, prompt, rng); !s.ok()) return Fail(s);
  }
  size_t free_bytes = 0, total_bytes = 0;
  cudaMemGetInfo(&free_bytes, &total_bytes);
  std::printf(
      "{\"kind\": \"memory\", \"device\": \"%s\", \"load_seconds\": %.2f, \"executor_bytes\": "
      "%lld, "
      "\"device_used_bytes\": %lld, \"host_weight_bytes\": %lld, \"graphs\": %s}\n",
      gpu.device_name().c_str(), load_s, static_cast<long long>(gpu.peak_device_bytes()),
      static_cast<long long>(total_bytes - free_bytes),
      static_cast<long long>(single != nullptr ? single->host_weight_bytes() : 0),
      cl.GetBool("no-graphs") ? "false" : "true");
  return 0;
}

}  // namespace
}  // namespace bloom

int main(int argc, char** argv) { return bloom::Main(argc, argv); }
