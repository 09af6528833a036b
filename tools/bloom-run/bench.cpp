#include "tools/bloom-run/bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "runtime/serve/scheduler.h"
#include "runtime/support/status_macros.h"

namespace bloom::run {
namespace {

std::vector<GenerationRequest> RandomRequests(const RunFlags& flags, int64_t vocab) {
  std::mt19937_64 rng(flags.generation.sampling.seed);
  std::vector<GenerationRequest> requests(flags.batch);
  uint64_t index = 0;
  for (GenerationRequest& r : requests) {
    r.prompt.resize(flags.prompt_len);
    // Not std::uniform_int_distribution: its output differs between
    // standard libraries, and the prompts should not.
    for (int32_t& t : r.prompt) t = static_cast<int32_t>(rng() % static_cast<uint64_t>(vocab));
    r.max_new_tokens = flags.generation.max_new_tokens;
    r.eos_token_id = -1;
    // --do-sample and the warpers time sampled decoding (each request its
    // own seed, as a server's would have).
    r.sampling = flags.generation.sampling;
    r.sampling.seed = flags.generation.sampling.seed + index++;
  }
  return requests;
}

double Round3(double v) { return std::round(v * 1000) / 1000; }

}  // namespace

absl::Status CheckBenchFits(const plan::Plan& plan, const RunFlags& flags) {
  const auto* limits = plan.limits();
  const int32_t per_step =
      std::min({limits->max_sequences(), limits->max_logit_rows(), limits->max_batch_tokens()});
  if (flags.batch > per_step) {
    return absl::InvalidArgumentError(
        absl::StrCat("--batch=", flags.batch,
                     " sequences cannot decode in one step of this plan (max_sequences ",
                     limits->max_sequences(), ", max_logit_rows ", limits->max_logit_rows(),
                     ", max_batch_tokens ", limits->max_batch_tokens(),
                     "); compile with larger limits or use --batch<=", per_step));
  }
  const int64_t needed =
      static_cast<int64_t>(flags.prompt_len) + flags.generation.max_new_tokens - 1;
  if (needed > limits->max_seq_len()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--prompt-len=", flags.prompt_len, " + --max-new-tokens=", flags.generation.max_new_tokens,
        " needs ", needed, " positions but the plan's max_seq_len is ", limits->max_seq_len()));
  }
  return absl::OkStatus();
}

absl::Status RunBench(const serve::Backend& backend, const RunFlags& flags, double load_ms) {
  StepExecutor& executor = *backend.executor;
  BLOOM_RETURN_IF_ERROR(CheckBenchFits(executor.plan(), flags));
  const std::vector<GenerationRequest> requests = RandomRequests(flags, executor.vocab_size());
  SchedulerOptions options;
  options.policy = SchedulerOptions::Policy::kPrefillFirst;
  options.max_steps_in_flight = flags.max_steps_in_flight;
  // Greedy runs take the device argmax (the figures measured so far);
  // sampled ones the device's token choice where the backend has one.
  options.greedy_step = backend.greedy_step;
  if (flags.generation.sampling.do_sample) options.device_choice = backend.device_choice;
  for (int i = 0; i < flags.warmup; ++i) {
    BLOOM_RETURN_IF_ERROR(Scheduler(executor, options).Run(requests).status());
  }

  std::vector<StepRecord> steps;
  options.on_step = [&](const StepRecord& r) { steps.push_back(r); };
  const WeightStreamStats streamed_before = executor.weight_stream_totals();
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::vector<GenerationOutcome>> outcomes =
      Scheduler(executor, options).Run(requests);
  const double total_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!outcomes.ok()) return outcomes.status();
  // Memory tiering: every step streams the same units, prefill or decode,
  // so the measured run's totals divide evenly over its steps.
  const WeightStreamStats streamed_after = executor.weight_stream_totals();
  const double run_steps = std::max<double>(1, static_cast<double>(steps.size()));
  const int64_t streamed_bytes = streamed_after.bytes - streamed_before.bytes;
  const double fill_seconds = streamed_after.fill_seconds - streamed_before.fill_seconds;
  // Over the copies' own time where the backend times them (the CPU's
  // reader thread; the CUDA executor's eager steps); otherwise (CUDA decode
  // graphs, whose copies are not timed) over the measured run's time, a
  // lower bound of the link's rate that a link-bound step approaches.
  const bool timed_copies = fill_seconds > 0;
  const double stream_gb_per_s =
      streamed_bytes == 0 ? 0
      : timed_copies      ? streamed_bytes / fill_seconds / 1e9
                          : streamed_bytes / (total_ms / 1e3) / 1e9;
  const double stream_wait_ms =
      (streamed_after.wait_seconds - streamed_before.wait_seconds) * 1000 / run_steps;

  double ttft_ms = 0;
  for (const GenerationOutcome& o : *outcomes) ttft_ms = std::max(ttft_ms, o.ttft_ms);
  // Under prefill-first a step is all prompt or all decode.
  std::vector<double> decode_ms;
  int64_t decode_tokens = 0;
  for (const StepRecord& r : steps) {
    if (r.decode_tokens == 0) continue;
    decode_ms.push_back(r.ms);
    decode_tokens += r.decode_tokens;
  }
  double mean = 0, median = 0, sum = 0;
  if (!decode_ms.empty()) {
    for (double v : decode_ms) sum += v;
    mean = sum / decode_ms.size();
    std::vector<double> sorted = decode_ms;
    std::sort(sorted.begin(), sorted.end());
    const size_t n = sorted.size();
    median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }
  const double tokens_per_s = sum > 0 ? decode_tokens / (sum / 1000) : 0;

  nlohmann::ordered_json out;
  out["backend"] = flags.backend;
  out["device"] = executor.device_name();
  out["plan"] = flags.plan_dir;
  out["batch"] = flags.batch;
  out["prompt_len"] = flags.prompt_len;
  out["new_tokens"] = flags.generation.max_new_tokens;
  out["load_ms"] = Round3(load_ms);
  // Generated weights (a layout-only synthetic checkpoint) or stored ones.
  out["weights"] = backend.generated_weights_seed ? "generated" : "stored";
  out["weights_seed"] = backend.generated_weights_seed
                            ? nlohmann::ordered_json(*backend.generated_weights_seed)
                            : nlohmann::ordered_json(nullptr);
  out["ttft_ms"] = Round3(ttft_ms);
  out["decode_ms_per_step_median"] = Round3(median);
  out["decode_ms_per_step_mean"] = Round3(mean);
  out["decode_tokens_per_s"] = Round3(tokens_per_s);
  out["total_ms"] = Round3(total_ms);
  // Every generated token over the whole run, prefill included: the figure
  // a server's output throughput on the same requests compares with.
  const double output_tokens_per_s =
      total_ms > 0 ? flags.batch * static_cast<double>(flags.generation.max_new_tokens) /
                         (total_ms / 1000)
                   : 0;
  out["output_tokens_per_s"] = Round3(output_tokens_per_s);
  // Steps the engine kept in flight at most (a pipeline's micro-batches).
  // Above 1 the steps overlap, so decode ms/step and decode tokens/s (over
  // the steps' summed time) understate the rate: compare
  // output_tokens_per_s.
  out["max_steps_in_flight"] =
      flags.max_steps_in_flight > 0
          ? std::min(flags.max_steps_in_flight, executor.max_steps_in_flight())
          : executor.max_steps_in_flight();
  out["sampled"] = flags.generation.sampling.do_sample;
  out["peak_device_bytes"] = executor.peak_device_bytes();
  out["weight_bytes_streamed_per_step"] =
      static_cast<int64_t>(std::llround(streamed_bytes / run_steps));
  out["weight_stream_gb_per_s"] = Round3(stream_gb_per_s);
  out["weight_stream_rate_basis"] = timed_copies ? "copy_time" : "run_time";
  out["weight_stream_wait_ms_per_step"] = Round3(stream_wait_ms);
  std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  std::fflush(stdout);

  std::fprintf(
      stderr,
      "bloom-run --bench: %s on %s, plan %s\n"
      "  batch x prompt_len x new_tokens   %d x %d x %d\n"
      "  load                              %10.2f ms\n"
      "  time to first token (all)         %10.2f ms\n"
      "  decode steps                      %10zu\n"
      "  decode ms/step (median / mean)    %10.3f / %.3f ms\n"
      "  decode tokens/s                   %10.1f\n"
      "  total (measured run)              %10.2f ms\n"
      "  output tokens/s (whole run)       %10.1f\n"
      "  peak device memory                %10.1f MiB\n"
      "  weights streamed per step         %10.1f MiB at %.2f GB/s (%.3f ms/step waited)\n",
      flags.backend.c_str(), executor.device_name().c_str(), flags.plan_dir.c_str(), flags.batch,
      flags.prompt_len, flags.generation.max_new_tokens, load_ms, ttft_ms, decode_ms.size(), median,
      mean, tokens_per_s, total_ms, output_tokens_per_s, executor.peak_device_bytes() / (1024.0 * 1024.0),
      streamed_bytes / run_steps / (1024.0 * 1024.0), stream_gb_per_s, stream_wait_ms);
  return absl::OkStatus();
}

}  // namespace bloom::run
