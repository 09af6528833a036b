#include "tools/bloom-run/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "runtime/serve/prompts.h"
#include "runtime/serve/scheduler.h"
#include "runtime/serve/score_statistics.h"
#include "runtime/serve/token_scoring.h"
#include "runtime/support/status_macros.h"

namespace bloom::run {
namespace {

// The logits a batch of windows may hold on the host at once (the engine
// keeps every row of a keep_all_logits request): with BLOOM's 250,880-token
// vocabulary and N = 512, about two windows.
constexpr int64_t kKeptLogitsBytes = int64_t{1} << 30;

constexpr int32_t kDefaultCtx = 512;

std::string DTypeName(plan::DType dtype) {
  switch (dtype) {
    case plan::DType::F32:
      return "fp32";
    case plan::DType::F16:
      return "fp16";
    case plan::DType::BF16:
      return "bf16";
    case plan::DType::I32:
      return "i32";
    case plan::DType::I8:
      return "int8";
    case plan::DType::I4:
      return "int4";
  }
  return "unknown";
}

absl::Status Usage(absl::string_view flag, absl::string_view problem) {
  return tools::FlagError(flag, problem);
}

// What one run accumulates over its scored tokens.
struct Scores {
  serve::NllStats nll;
  serve::KlStats kl;
  uint64_t scored = 0;  // also the index of the next base record
  std::string records;  // --kl-divergence-base records not yet written
  serve::ScoringScratch scratch;
  std::vector<int32_t> top_ids;
  std::vector<float> top_log_probs;
};

// Scores one logit row, the prediction of `target`.
absl::Status ScoreRow(absl::Span<const float> row, int32_t target, PerplexityJob& job,
                      const RunFlags& flags, Scores& scores) {
  const serve::RowStats stats = serve::StatsOf(row);
  const double nll = serve::TokenNll(row, stats, target);
  scores.nll.Add(nll);
  if (job.base_out) {
    serve::AppendKlBaseRecord(serve::TopLogProbsOf(row, stats, target, kKlBaseTopK, scores.top_ids,
                                                   scores.top_log_probs, scores.scratch),
                              scores.records);
  }
  if (job.base) {
    const serve::BaseToken base = job.base->Token(scores.scored);
    if (base.target != target) {
      // The token hash matched, so this is a bug, not a user's mistake.
      return absl::InternalError(absl::StrCat(flags.perplexity.kl_base_in, ": scored token ",
                                              scores.scored, " is ", base.target,
                                              ", this run's is ", target));
    }
    scores.kl.Add(serve::KlDivergence(base, row, stats, scores.scratch),
                  base.ids[0] == stats.argmax, nll, -base.target_log_prob);
  }
  ++scores.scored;
  return absl::OkStatus();
}

// Runs windows [first, first + count) as one closed batch and scores them.
absl::Status RunWindows(const serve::Backend& backend, PerplexityJob& job, const RunFlags& flags,
                        size_t first, size_t count, Scores& scores) {
  const int32_t ctx = static_cast<int32_t>(job.header.ctx);
  const int64_t vocab = backend.executor->vocab_size();
  std::vector<GenerationRequest> requests(count);
  for (size_t j = 0; j < count; ++j) {
    // The window's last token is only a target: its logits would predict
    // past the window. Causal attention makes rows 0..N-2 of the N - 1
    // fed tokens those of the whole window.
    const auto begin = job.tokens.begin() + job.windows[first + j].start;
    requests[j].prompt.assign(begin, begin + ctx - 1);
    requests[j].max_new_tokens = 1;
    requests[j].eos_token_id = -1;
    requests[j].keep_all_logits = true;
  }
  BLOOM_ASSIGN_OR_RETURN(std::vector<GenerationOutcome> outcomes,
                         Scheduler(*backend.executor).Run(std::move(requests)));
  for (size_t j = 0; j < count; ++j) {
    const GenerationOutcome& o = outcomes[j];
    const serve::PerplexityWindow& w = job.windows[first + j];
    if (o.logit_rows != ctx - 1) {
      return absl::InternalError(absl::StrCat("window ", first + j, ": ", o.logit_rows,
                                              " logit rows came back, expected ", ctx - 1));
    }
    for (int32_t i = w.first_scored; i <= ctx - 2; ++i) {
      const absl::Span<const float> row =
          absl::MakeConstSpan(o.logits).subspan(static_cast<size_t>(i) * vocab, vocab);
      BLOOM_RETURN_IF_ERROR(ScoreRow(row, job.tokens[w.start + i + 1], job, flags, scores));
    }
  }
  if (job.base_out) {
    if (std::fwrite(scores.records.data(), 1, scores.records.size(), job.base_out.get()) !=
        scores.records.size()) {
      return absl::DataLossError(
          absl::StrCat("--kl-divergence-base: writing ", flags.perplexity.kl_base_out, " failed"));
    }
    scores.records.clear();
  }
  return absl::OkStatus();
}

std::string WindowMode(const PerplexityJob& job) {
  return job.header.stride == 0 ? "halves" : absl::StrCat("stride ", job.header.stride);
}

void PrintKlSummary(const serve::KlReport& r, const std::string& base_file) {
  std::fprintf(stderr,
               "bloom-run: KL divergence from %s over %lld tokens: mean %.6f +/- %.6f, median "
               "%.6f, p90 %.6f, p95 %.6f, p99 %.6f, max %.6f; same top 1: %.3f +/- %.3f %%; "
               "PPL(base) %.4f, PPL - PPL(base) %.4f +/- %.4f, ln(PPL/PPL(base)) %.6f +/- %.6f\n",
               base_file.c_str(), static_cast<long long>(r.count), r.kl_mean, r.kl_stderr,
               r.kl_median, r.kl_p90, r.kl_p95, r.kl_p99, r.kl_max, 100 * r.same_top1,
               100 * r.same_top1_stderr, r.base.ppl, r.delta_ppl, r.delta_ppl_stderr,
               r.ln_ppl_ratio, r.ln_ppl_ratio_stderr);
}

void AddKlFields(const serve::KlReport& r, nlohmann::ordered_json& out) {
  out["kl_mean"] = r.kl_mean;
  out["kl_stderr"] = r.kl_stderr;
  out["kl_median"] = r.kl_median;
  out["kl_p90"] = r.kl_p90;
  out["kl_p95"] = r.kl_p95;
  out["kl_p99"] = r.kl_p99;
  out["kl_max"] = r.kl_max;
  out["kl_min"] = r.kl_min;
  out["same_top1_pct"] = 100 * r.same_top1;
  out["same_top1_pct_stderr"] = 100 * r.same_top1_stderr;
  out["base_ppl"] = r.base.ppl;
  out["base_ppl_stderr"] = r.base.ppl_stderr;
  out["delta_ppl"] = r.delta_ppl;
  out["delta_ppl_stderr"] = r.delta_ppl_stderr;
  out["ln_ppl_ratio"] = r.ln_ppl_ratio;
  out["ln_ppl_ratio_stderr"] = r.ln_ppl_ratio_stderr;
}

}  // namespace

absl::StatusOr<PerplexityJob> PreparePerplexity(const plan::Plan& plan, int64_t vocab,
                                                const Tokenizer& tokenizer, const RunFlags& flags) {
  const PerplexityFlags& pf = flags.perplexity;
  const int32_t max_seq_len = plan.limits()->max_seq_len();
  const int32_t ctx = pf.ctx > 0 ? pf.ctx : std::min(kDefaultCtx, max_seq_len);
  if (ctx > max_seq_len) {
    return Usage("ctx", absl::StrCat(ctx, " tokens per window do not fit the plan's max_seq_len ",
                                     max_seq_len));
  }
  BLOOM_RETURN_IF_ERROR(serve::CheckWindowShape(ctx, pf.stride));

  PerplexityJob job;
  BLOOM_ASSIGN_OR_RETURN(const std::string text, serve::ReadAll(pf.file));
  absl::StatusOr<std::vector<int32_t>> ids = tokenizer.Encode(text);
  if (!ids.ok())
    return absl::InvalidArgumentError(absl::StrCat(pf.file, ": ", ids.status().message()));
  job.tokens = *std::move(ids);
  for (int32_t id : job.tokens) {
    if (id < 0 || id >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat(pf.file, ": the tokenizer gives id ", id,
                                                     ", outside the plan's vocabulary of ", vocab));
    }
  }
  absl::StatusOr<std::vector<serve::PerplexityWindow>> windows =
      serve::PerplexityWindows(static_cast<int64_t>(job.tokens.size()), ctx, pf.stride);
  if (!windows.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(pf.file, ": ", windows.status().message()));
  }
  job.windows = *std::move(windows);
  if (pf.chunks > 0 && static_cast<size_t>(pf.chunks) < job.windows.size()) {
    job.windows.resize(static_cast<size_t>(pf.chunks));
  }

  serve::KlBaseHeader& h = job.header;
  h.top_k = static_cast<uint32_t>(std::min<int64_t>(kKlBaseTopK, vocab));
  h.vocab = static_cast<uint64_t>(vocab);
  h.ctx = static_cast<uint32_t>(ctx);
  h.stride = static_cast<uint32_t>(pf.stride);
  h.num_tokens = job.tokens.size();
  h.windows = job.windows.size();
  h.scored = job.windows.size() * static_cast<uint64_t>(serve::ScoredPerWindow(ctx, pf.stride));
  h.tokens_hash = serve::HashTokens(job.tokens);

  if (!pf.kl_base_in.empty()) {
    absl::StatusOr<std::string> bytes = serve::ReadAll(pf.kl_base_in);
    if (!bytes.ok()) return Usage("kl-divergence", bytes.status().message());
    BLOOM_ASSIGN_OR_RETURN(serve::KlBase base, serve::ParseKlBase(*bytes, pf.kl_base_in));
    BLOOM_RETURN_IF_ERROR(serve::CheckKlBaseMatches(base.header(), h, pf.kl_base_in));
    job.base = std::move(base);
  }
  if (!pf.kl_base_out.empty()) {
    job.base_out.reset(std::fopen(pf.kl_base_out.c_str(), "wb"));
    if (!job.base_out)
      return Usage("kl-divergence-base", absl::StrCat("cannot write ", pf.kl_base_out));
  }
  return job;
}

absl::Status RunPerplexity(const serve::Backend& backend, PerplexityJob& job,
                           const RunFlags& flags) {
  const auto start_time = std::chrono::steady_clock::now();
  const plan::Plan& plan = backend.executor->plan();
  const int64_t vocab = backend.executor->vocab_size();
  const int32_t ctx = static_cast<int32_t>(job.header.ctx);
  const int64_t window_bytes = static_cast<int64_t>(ctx - 1) * vocab * 4;
  const size_t per_batch = static_cast<size_t>(
      std::clamp<int64_t>(kKeptLogitsBytes / window_bytes, 1, plan.limits()->max_sequences()));

  if (job.base_out) {
    const std::string header = serve::EncodeKlBaseHeader(job.header);
    if (std::fwrite(header.data(), 1, header.size(), job.base_out.get()) != header.size()) {
      return absl::DataLossError(
          absl::StrCat("--kl-divergence-base: writing ", flags.perplexity.kl_base_out, " failed"));
    }
  }
  std::fprintf(stderr,
               "bloom-run: perplexity: %zu tokens, %zu windows of %d (%s), %llu tokens to score, "
               "%zu windows per batch\n",
               job.tokens.size(), job.windows.size(), ctx, WindowMode(job).c_str(),
               static_cast<unsigned long long>(job.header.scored), per_batch);
  if (plan.limits()->max_logit_rows() < plan.limits()->max_batch_tokens()) {
    // Every fed token of a window needs its logit row, so a step carries
    // at most max_logit_rows tokens of windows.
    std::fprintf(stderr,
                 "bloom-run: note: the plan's max_logit_rows %d limits a step to %d tokens here; "
                 "a plan compiled with --max-logit-rows=%d runs --perplexity faster\n",
                 plan.limits()->max_logit_rows(), plan.limits()->max_logit_rows(),
                 plan.limits()->max_batch_tokens());
  }
  Scores scores;
  for (size_t first = 0; first < job.windows.size(); first += per_batch) {
    const size_t count = std::min(per_batch, job.windows.size() - first);
    BLOOM_RETURN_IF_ERROR(RunWindows(backend, job, flags, first, count, scores));
    std::fprintf(stderr, "bloom-run: perplexity: %zu/%zu windows, PPL %.4f\n", first + count,
                 job.windows.size(), scores.nll.Estimate().ppl);
  }
  if (job.base_out) {
    std::FILE* f = job.base_out.release();
    if (std::fflush(f) != 0 || std::ferror(f) || std::fclose(f) != 0) {
      return absl::DataLossError(
          absl::StrCat("--kl-divergence-base: writing ", flags.perplexity.kl_base_out, " failed"));
    }
  }
  const serve::PerplexityEstimate ppl = scores.nll.Estimate();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  std::fprintf(stderr, "bloom-run: Final estimate: PPL = %.4f +/- %.5f over %lld tokens\n", ppl.ppl,
               ppl.ppl_stderr, static_cast<long long>(ppl.count));

  nlohmann::ordered_json out;
  out["ppl"] = ppl.ppl;
  out["ppl_stderr"] = ppl.ppl_stderr;  // NaN (one token scored) prints as null
  out["nll_mean"] = ppl.nll_mean;
  out["tokens"] = job.tokens.size();
  out["scored"] = ppl.count;
  out["windows"] = job.windows.size();
  out["ctx"] = ctx;
  out["stride"] = job.header.stride;
  out["file"] = flags.perplexity.file;
  out["plan"] = flags.plan_dir;
  out["backend"] = flags.backend;
  out["device"] = backend.executor->device_name();
  out["dtype"] = DTypeName(plan.kv_cache()->dtype());
  out["tp"] = plan.tp_size();
  out["seconds"] = seconds;
  if (!flags.perplexity.kl_base_out.empty()) {
    out["kl_base_written"] = flags.perplexity.kl_base_out;
    out["kl_top_k"] = job.header.top_k;
  }
  if (job.base) {
    const serve::KlReport report = scores.kl.Report();
    PrintKlSummary(report, flags.perplexity.kl_base_in);
    out["kl_base"] = flags.perplexity.kl_base_in;
    AddKlFields(report, out);
    out["kl_top_k"] = job.base->header().top_k;
  }
  std::printf("%s\n", out.dump().c_str());
  std::fflush(stdout);
  return absl::OkStatus();
}

}  // namespace bloom::run
