// bloom-run: executes a plan written by bloom-compile (docs/cli.md).
//
//   bloom-run PLAN_DIR --prompt=TEXT [flags]          text in, streamed text out
//   bloom-run PLAN_DIR --tokens=ID,ID,... --max-new-tokens=N [--dump-logits=FILE.npy]
//                                                     ids in, ids out (one line)
//   bloom-run PLAN_DIR --input=FILE.jsonl [--output=FILE]   many requests, one batch
//   bloom-run PLAN_DIR --bench --batch=B --prompt-len=P --max-new-tokens=N
//   bloom-run PLAN_DIR --perplexity=FILE [--ctx=N] [--stride=S]
//             [--kl-divergence-base=OUT | --kl-divergence=BASE]
//
// Every mode runs through the same continuous-batching Scheduler on the
// StepExecutor of --backend. Exit codes: 0 success, 1 a failure while
// loading or running, 2 a usage error; every failure is one line on stderr.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/parallel/launcher_env.h"
#include "runtime/serve/scheduler.h"
#include "runtime/serve/text_stream.h"
#include "runtime/exec/weight_source.h"
#include "runtime/support/npy.h"
#include "tools/bloom-run/bench.h"
#include "tools/bloom-run/perplexity.h"
#include "tools/bloom-run/probe.h"
#include "runtime/serve/executor_factory.h"
#include "runtime/serve/jsonl_batch.h"
#include "runtime/serve/prompts.h"
#include "tools/bloom-run/run_flags.h"

namespace bloom::run {
namespace {

using Clock = std::chrono::steady_clock;

int Fail(int code, const absl::Status& status) {
  std::fprintf(stderr, "bloom-run: %s\n", std::string(status.message()).c_str());
  return code;
}

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// What every mode needs from the plan before the weights are loaded, so
// that input errors show up before the (possibly long) load.
struct PlanFacts {
  int64_t vocab = 0;
  int32_t max_seq_len = 0;
  int32_t eos_token_id = -1;
  std::string checkpoint_dir;  // where weights and tokenizer.json are looked for
};

PlanFacts FactsOf(const LoadedPlan& loaded, const RunFlags& flags) {
  const plan::Plan& p = loaded.plan();
  PlanFacts facts;
  facts.vocab = p.tensors()->Get(TensorWithRole(p, plan::TensorRole::Logits))->shape()->Get(1);
  facts.max_seq_len = p.limits()->max_seq_len();
  facts.eos_token_id = p.eos_token_id();
  facts.checkpoint_dir = WeightsDirectory(p, flags.checkpoint_dir);
  return facts;
}

absl::StatusOr<serve::Backend> Load(const RunFlags& flags, LoadedPlan plan) {
  absl::StatusOr<serve::Backend> backend =
      serve::CreateBackend(flags.backend, std::move(plan), flags.plan_dir, flags.checkpoint_dir,
                    /*progress=*/::isatty(STDERR_FILENO) != 0, {flags.cuda_collectives});
  if (backend.ok() && backend->generated_weights_seed) {
    // Random weights must never pass for a model's: say so on every run.
    std::fprintf(stderr,
                 "bloom-run: note: the weights are generated from seed %llu (a layout-only "
                 "synthetic checkpoint), not read from stored values\n",
                 static_cast<unsigned long long>(*backend->generated_weights_seed));
  }
  return backend;
}

SchedulerOptions SchedulingOf(const serve::Backend& backend) {
  SchedulerOptions options;
  options.greedy_step = backend.greedy_step;
  options.device_choice = backend.device_choice;
  return options;
}

GenerationRequest SingleRequest(const RunFlags& flags, const PlanFacts& facts) {
  GenerationRequest r;
  r.sampling = flags.generation.sampling;
  r.max_new_tokens = flags.generation.max_new_tokens;
  r.min_new_tokens = flags.generation.min_new_tokens;
  r.eos_token_id = flags.generation.stop_at_eos ? facts.eos_token_id : -1;
  r.keep_all_logits = !flags.dump_logits.empty();
  return r;
}

absl::Status DumpLogits(const std::string& path, const GenerationOutcome& outcome, int64_t vocab) {
  const int64_t shape[] = {outcome.logit_rows, vocab};
  return WriteNpyFloat32(path, shape, outcome.logits);
}

void PrintTimings(const RunFlags& flags, double load_ms, const GenerationOutcome& o) {
  if (!flags.verbose) return;
  const double decode_ms = o.total_ms - o.ttft_ms;
  const size_t decoded = o.tokens.size() > 0 ? o.tokens.size() - 1 : 0;
  std::fprintf(stderr,
               "bloom-run: load %.1f ms, first token %.1f ms, %zu tokens in %.1f ms (%.1f tokens/s "
               "after the first), finish: %s\n",
               load_ms, o.ttft_ms, o.tokens.size(), o.total_ms,
               decode_ms > 0 ? decoded / (decode_ms / 1000) : 0.0,
               FinishReasonName(o.finish_reason));
}

// The end of a one-prompt run, after its output is printed: --verbose
// timings, then --dump-logits.
int FinishSingleRun(const RunFlags& flags, double load_ms, const GenerationOutcome& outcome,
                    int64_t vocab) {
  PrintTimings(flags, load_ms, outcome);
  if (!flags.dump_logits.empty()) {
    if (absl::Status s = DumpLogits(flags.dump_logits, outcome, vocab); !s.ok()) {
      return Fail(kExitFailure, s);
    }
  }
  return kExitOk;
}

// --tokens: ids in, ids out; the contract golden_parity.py relies on.
int RunTokens(const RunFlags& flags, LoadedPlan plan) {
  const PlanFacts facts = FactsOf(plan, flags);
  GenerationRequest request = SingleRequest(flags, facts);
  absl::StatusOr<std::vector<int32_t>> prompt = serve::ParseTokenList(flags.tokens, facts.vocab);
  if (!prompt.ok()) return Fail(kExitUsage, prompt.status());
  request.prompt = *std::move(prompt);
  if (absl::Status s = serve::FitPrompt(request.prompt, request.max_new_tokens, facts.max_seq_len,
                                 flags.truncate, "--tokens");
      !s.ok()) {
    return Fail(kExitUsage, s);
  }
  const Clock::time_point load_start = Clock::now();
  absl::StatusOr<serve::Backend> backend = Load(flags, std::move(plan));
  if (!backend.ok()) return Fail(kExitFailure, backend.status());
  const double load_ms = MsSince(load_start);
  absl::StatusOr<std::vector<GenerationOutcome>> outcomes =
      Scheduler(*backend->executor, SchedulingOf(*backend)).Run({request});
  if (!outcomes.ok()) return Fail(kExitFailure, outcomes.status());
  const GenerationOutcome& outcome = (*outcomes)[0];
  std::printf("%s\n", absl::StrJoin(outcome.tokens, " ").c_str());
  std::fflush(stdout);
  return FinishSingleRun(flags, load_ms, outcome, facts.vocab);
}

// --prompt / --prompt-file / stdin: the continuation streamed as it comes.
int RunText(const RunFlags& flags, LoadedPlan plan) {
  const PlanFacts facts = FactsOf(plan, flags);
  absl::StatusOr<Tokenizer> tokenizer =
      serve::LoadTokenizer(flags.tokenizer, flags.plan_dir, facts.checkpoint_dir);
  if (!tokenizer.ok()) return Fail(kExitFailure, tokenizer.status());

  std::string text = flags.prompt, label = "--prompt";
  if (!flags.prompt_given) {
    label = flags.prompt_file.empty() ? "stdin" : flags.prompt_file;
    if (flags.prompt_file.empty() && ::isatty(STDIN_FILENO)) {
      std::fprintf(stderr, "bloom-run: reading the prompt from stdin (end it with Ctrl-D)\n");
    }
    absl::StatusOr<std::string> read = serve::ReadAll(flags.prompt_file);
    if (!read.ok()) return Fail(kExitUsage, read.status());
    text = *std::move(read);
    // Editors end files with a newline that is not part of the prompt.
    if (!text.empty() && text.back() == '\n') text.pop_back();
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.empty())
      return Fail(kExitUsage,
                  absl::InvalidArgumentError(absl::StrCat(label, ": the prompt is empty")));
  }
  absl::StatusOr<std::vector<int32_t>> ids = tokenizer->Encode(text);
  if (!ids.ok())
    return Fail(kExitUsage,
                absl::InvalidArgumentError(absl::StrCat(label, ": ", ids.status().message())));
  if (ids->empty())
    return Fail(kExitUsage, absl::InvalidArgumentError(
                                absl::StrCat(label, ": the prompt encodes to no tokens")));

  GenerationRequest request = SingleRequest(flags, facts);
  request.prompt = *std::move(ids);
  if (absl::Status s = serve::FitPrompt(request.prompt, request.max_new_tokens, facts.max_seq_len,
                                 flags.truncate, label);
      !s.ok()) {
    return Fail(kExitUsage, s);
  }

  const Clock::time_point load_start = Clock::now();
  absl::StatusOr<serve::Backend> backend = Load(flags, std::move(plan));
  if (!backend.ok()) return Fail(kExitFailure, backend.status());
  const double load_ms = MsSince(load_start);

  if (flags.echo) {
    // The prompt as the model sees it (after --truncate).
    std::fputs(tokenizer->Decode(request.prompt).c_str(), stdout);
    std::fflush(stdout);
  }
  TextStream stream(*tokenizer, flags.generation.stop_strings);
  request.on_token = [&](int32_t id) {
    const std::string piece = stream.Next(id);
    if (!flags.print_tokens && !piece.empty()) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
    return stream.stopped();
  };
  absl::StatusOr<std::vector<GenerationOutcome>> outcomes =
      Scheduler(*backend->executor, SchedulingOf(*backend)).Run({request});
  if (!outcomes.ok()) {
    std::fputs("\n", stdout);
    return Fail(kExitFailure, outcomes.status());
  }
  const GenerationOutcome& outcome = (*outcomes)[0];
  const std::string rest = stream.Finish();
  if (flags.print_tokens) {
    std::printf("%s\n", absl::StrJoin(outcome.tokens, " ").c_str());
  } else {
    std::fwrite(rest.data(), 1, rest.size(), stdout);
    std::fputs("\n", stdout);
  }
  std::fflush(stdout);
  return FinishSingleRun(flags, load_ms, outcome, facts.vocab);
}

// --input=FILE.jsonl: every request in one batch; results in input order.
int RunBatch(const RunFlags& flags, LoadedPlan plan) {
  const PlanFacts facts = FactsOf(plan, flags);
  absl::StatusOr<std::vector<serve::BatchItem>> items = serve::ReadJsonlRequests(flags.input, flags.generation);
  if (!items.ok()) return Fail(kExitUsage, items.status());
  // Text results need the tokenizer when there is one; text prompts and
  // stop strings cannot do without it.
  absl::StatusOr<Tokenizer> tokenizer = absl::NotFoundError("no tokenizer");
  if (serve::FindTokenizer(flags.tokenizer, flags.plan_dir, facts.checkpoint_dir) ||
      serve::NeedsTokenizer(*items)) {
    tokenizer = serve::LoadTokenizer(flags.tokenizer, flags.plan_dir, facts.checkpoint_dir);
    if (!tokenizer.ok()) return Fail(kExitFailure, tokenizer.status());
  }
  const Tokenizer* tok = tokenizer.ok() ? &*tokenizer : nullptr;
  if (absl::Status s = serve::PrepareRequests(*items, flags.input, tok, facts.vocab, facts.max_seq_len,
                                       facts.eos_token_id, flags.truncate);
      !s.ok()) {
    return Fail(kExitUsage, s);
  }
  std::FILE* out = stdout;
  if (!flags.output.empty()) {
    out = std::fopen(flags.output.c_str(), "w");
    if (out == nullptr) {
      return Fail(kExitUsage, absl::InvalidArgumentError(
                                  absl::StrCat("--output: cannot write ", flags.output)));
    }
  }

  absl::StatusOr<serve::Backend> backend = Load(flags, std::move(plan));
  if (!backend.ok()) return Fail(kExitFailure, backend.status());

  std::vector<std::unique_ptr<TextStream>> streams(items->size());
  std::vector<GenerationRequest> requests;
  for (size_t i = 0; i < items->size(); ++i) {
    GenerationRequest r = (*items)[i].request;
    if (tok != nullptr) {
      streams[i] = std::make_unique<TextStream>(*tok, (*items)[i].stop_strings);
      TextStream* stream = streams[i].get();
      r.on_token = [stream](int32_t id) {
        stream->Next(id);
        return stream->stopped();
      };
    }
    requests.push_back(std::move(r));
  }
  absl::StatusOr<std::vector<GenerationOutcome>> outcomes =
      Scheduler(*backend->executor, SchedulingOf(*backend)).Run(std::move(requests));
  if (!outcomes.ok()) return Fail(kExitFailure, outcomes.status());
  for (size_t i = 0; i < items->size(); ++i) {
    const std::string* text = nullptr;
    if (streams[i]) {
      streams[i]->Finish();
      text = &streams[i]->text();
    }
    const std::string line = serve::ResultLine(i, (*items)[i], (*outcomes)[i], text) + "\n";
    std::fwrite(line.data(), 1, line.size(), out);
  }
  const bool write_failed = std::fflush(out) != 0 || std::ferror(out);
  if (out != stdout && std::fclose(out) != 0) {
    return Fail(kExitFailure,
                absl::DataLossError(absl::StrCat("--output: writing ", flags.output, " failed")));
  }
  if (write_failed) return Fail(kExitFailure, absl::DataLossError("writing the results failed"));
  return kExitOk;
}

int RunBenchMode(const RunFlags& flags, LoadedPlan plan) {
  if (absl::Status s = CheckBenchFits(plan.plan(), flags); !s.ok()) return Fail(kExitUsage, s);
  const Clock::time_point load_start = Clock::now();
  absl::StatusOr<serve::Backend> backend = Load(flags, std::move(plan));
  if (!backend.ok()) return Fail(kExitFailure, backend.status());
  if (absl::Status s = RunBench(*backend, flags, MsSince(load_start)); !s.ok()) {
    return Fail(kExitFailure, s);
  }
  return kExitOk;
}

// --perplexity: the text and any base file are checked before the load.
int RunPerplexityMode(const RunFlags& flags, LoadedPlan plan) {
  const PlanFacts facts = FactsOf(plan, flags);
  absl::StatusOr<Tokenizer> tokenizer =
      serve::LoadTokenizer(flags.tokenizer, flags.plan_dir, facts.checkpoint_dir);
  if (!tokenizer.ok()) return Fail(kExitFailure, tokenizer.status());
  absl::StatusOr<PerplexityJob> job = PreparePerplexity(plan.plan(), facts.vocab, *tokenizer, flags);
  if (!job.ok()) return Fail(kExitUsage, job.status());
  absl::StatusOr<serve::Backend> backend = Load(flags, std::move(plan));
  if (!backend.ok()) return Fail(kExitFailure, backend.status());
  if (absl::Status s = RunPerplexity(*backend, *job, flags); !s.ok()) return Fail(kExitFailure, s);
  return kExitOk;
}

int Main(int argc, char** argv) {
  tools::CommandLine cl = MakeCommandLine();
  if (absl::Status s = cl.Parse(argc, argv); !s.ok()) return Fail(kExitUsage, s);
  if (cl.help_requested()) {
    std::fputs(cl.HelpText().c_str(), stdout);
    return kExitOk;
  }
  if (cl.GetBool("probe")) return RunProbe(cl);
  absl::StatusOr<RunFlags> flags = ReadRunFlags(cl);
  if (!flags.ok()) return Fail(kExitUsage, flags.status());
  if (absl::Status s = serve::CheckBackendAvailable(flags->backend); !s.ok()) return Fail(kExitUsage, s);

  // Under mpirun, ranks other than 0 only follow rank 0's steps; they read
  // no prompt and print nothing.
  if (LaunchedByMpiLauncher() && MpiLauncherRank() != 0) {
    return serve::RunMpiFollower(flags->backend, flags->plan_dir, flags->checkpoint_dir,
                                 {flags->cuda_collectives});
  }
  // The plan that computes the logits (rank 0's of a tensor-parallel
  // directory: its logits are all-gathered; a pipeline's last stage): the
  // full vocabulary and the shared limits.
  absl::StatusOr<LoadedPlan> plan = LoadedPlan::LoadOutputPlan(flags->plan_dir);
  if (!plan.ok()) return Fail(kExitFailure, plan.status());
  switch (flags->mode) {
    case Mode::kTokens:
      return RunTokens(*flags, *std::move(plan));
    case Mode::kText:
      return RunText(*flags, *std::move(plan));
    case Mode::kBatch:
      return RunBatch(*flags, *std::move(plan));
    case Mode::kBench:
      return RunBenchMode(*flags, *std::move(plan));
    case Mode::kPerplexity:
      return RunPerplexityMode(*flags, *std::move(plan));
  }
  return kExitFailure;
}

}  // namespace
}  // namespace bloom::run

int main(int argc, char** argv) { return bloom::run::Main(argc, argv); }
