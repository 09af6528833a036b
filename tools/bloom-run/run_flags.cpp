#include "tools/bloom-run/run_flags.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tools/common/execution_flags.h"

namespace bloom::run {

using tools::CommandLine;
using tools::FlagError;

CommandLine MakeCommandLine() {
  CommandLine cl("bloom-run",
                 "PLAN_DIR [--prompt=TEXT | --prompt-file=PATH | --tokens=ID,... | "
                 "--input=FILE.jsonl | --bench | --perplexity=FILE] [flags]\n\n"
                 "Runs a plan written by bloom-compile. With no input flag the prompt is read "
                 "from stdin.");
  cl.AddSection("Input (at most one; stdin when none)");
  cl.AddFlag("prompt", CommandLine::Kind::kString, "",
             "The prompt as text (UTF-8). The continuation is streamed to stdout.");
  cl.AddFlag("prompt-file", CommandLine::Kind::kString, "",
             "Read the prompt text from this file (one trailing newline is dropped).");
  cl.AddFlag("tokens", CommandLine::Kind::kString, "",
             "The prompt as comma-separated token ids, e.g. 1,2,3. Prints the generated ids "
             "space-separated on one line; never stops before --max-new-tokens.");
  cl.AddFlag("input", CommandLine::Kind::kString, "",
             "Run every request of this JSONL file as one batch (one JSON object a line with "
             "\"prompt\" or \"tokens\" and optional settings; see docs/cli.md). Results are "
             "JSONL in input order.");
  cl.AddFlag("output", CommandLine::Kind::kString, "",
             "With --input: write the JSONL results here instead of stdout.");
  tools::AddTokenizerFlag(cl);
  cl.AddFlag("truncate", CommandLine::Kind::kBool, "false",
             "Cut a prompt that does not fit max_seq_len - max_new_tokens + 1 positions, keeping "
             "its end. Without it such a prompt is an error.");

  cl.AddSection("Output");
  cl.AddFlag("echo", CommandLine::Kind::kBool, "false",
             "Text mode: print the prompt before the continuation.");
  cl.AddFlag("print-tokens", CommandLine::Kind::kBool, "false",
             "Text mode: print the generated token ids (one line, space-separated) instead of "
             "the text.");
  cl.AddFlag("dump-logits", CommandLine::Kind::kString, "",
             "Single prompt: write a float32 .npy of shape [P + N - 1, vocab]: the logits of "
             "every prompt position, then one row per decode step (row i predicts token i + 1).");
  cl.AddFlag("verbose", CommandLine::Kind::kBool, "false",
             "Print timings (load, time to first token, tokens/s) on stderr.");

  cl.AddSection("Generation");
  cl.AddFlag("max-new-tokens", CommandLine::Kind::kInt, "16", "Tokens to generate at most.");
  cl.AddFlag("min-new-tokens", CommandLine::Kind::kInt, "0",
             "The end-of-sequence token cannot be chosen before this many tokens.");
  cl.AddFlag("ignore-eos", CommandLine::Kind::kBool, "false",
             "Do not stop at the end-of-sequence token (</s>). --tokens never stops there.");
  cl.AddFlag("stop", CommandLine::Kind::kString, "",
             "Stop when the generated text contains this string (not printed). Text modes only.");

  cl.AddSection("Sampling (greedy unless sampling is on)");
  cl.AddFlag("do-sample", CommandLine::Kind::kBool, "false",
             "Sample instead of taking the most likely token. Giving --temperature, --top-k, "
             "--top-p or --typical-p turns it on unless --do-sample=false.");
  cl.AddFlag("temperature", CommandLine::Kind::kFloat, "1.0",
             "Divide logits by this (> 0; 0 means greedy).");
  cl.AddFlag("top-k", CommandLine::Kind::kInt, "0", "Keep the k most likely tokens (0: off).");
  cl.AddFlag("top-p", CommandLine::Kind::kFloat, "1.0",
             "Nucleus sampling: keep the most likely tokens up to this mass, in (0, 1] (1: off).");
  cl.AddFlag("typical-p", CommandLine::Kind::kFloat, "1.0",
             "Locally typical sampling mass, in (0, 1] (1: off).");
  cl.AddFlag("repetition-penalty", CommandLine::Kind::kFloat, "1.0",
             "Penalise tokens already in the prompt or output, as transformers does: positive "
             "logits divided by it, negative multiplied (> 0; 1: off). Applies to greedy too.");
  cl.AddFlag("seed", CommandLine::Kind::kInt, "0",
             "Random seed of each request (JSONL requests may set their own). Same seed, same "
             "output.");

  cl.AddSection("Benchmark");
  cl.AddFlag("bench", CommandLine::Kind::kBool, "false",
             "Time --batch random prompts of --prompt-len tokens and --max-new-tokens "
             "tokens (greedy, or sampled with the sampling flags) after --warmup runs; one "
             "JSON object on stdout, a table on stderr.");
  cl.AddFlag("batch", CommandLine::Kind::kInt, "1", "--bench: number of sequences.");
  cl.AddFlag("prompt-len", CommandLine::Kind::kInt, "32", "--bench: tokens per prompt.");
  cl.AddFlag("warmup", CommandLine::Kind::kInt, "1", "--bench: untimed runs first.");
  cl.AddFlag("max-steps-in-flight", CommandLine::Kind::kInt, "0",
             "--bench: steps the engine keeps in flight at most (0: what the executor takes, "
             "pp for a pipeline; 1 turns micro-batching off).");

  AddPerplexityFlags(cl);

  cl.AddSection("Probe");
  cl.AddFlag("probe", CommandLine::Kind::kBool, "false",
             "Measure this machine's links for memory tiering (memory copy; with "
             "--backend=cuda the GPU's device and pinned host-to-device copies; with "
             "--disk-dir reads from that directory) and print them as one JSON object with "
             "the bloom-compile flags to pass. Takes no PLAN_DIR.");
  cl.AddFlag("disk-dir", CommandLine::Kind::kString, "",
             "--probe: a directory of the disk tier to measure (a temporary file is written "
             "and removed).");

  tools::AddExecutionFlags(cl);

  cl.SetEpilogue(
      "Exit codes:\n"
      "  0  success\n"
      "  1  a failure while loading or running (plan, weights, tokenizer, I/O)\n"
      "  2  a usage error: unknown flag, bad value, conflicting inputs, a prompt that does not\n"
      "     fit the plan, invalid UTF-8, a bad JSONL line\n"
      "Every failure is one line on stderr.\n");
  return cl;
}

absl::StatusOr<RunFlags> ReadRunFlags(const CommandLine& cl) {
  RunFlags f;
  absl::StatusOr<std::string> plan_dir = tools::ReadPlanDir(cl);
  if (!plan_dir.ok()) return plan_dir.status();
  f.plan_dir = *std::move(plan_dir);
  if (cl.Has("disk-dir")) {
    return FlagError("disk-dir", "is for --probe (measuring a disk directory)");
  }

  // Inputs: at most one.
  std::vector<std::string> inputs;
  for (const char* name : {"tokens", "prompt", "prompt-file", "input", "bench", "perplexity"}) {
    if (cl.Has(name) && !(std::string(name) == "bench" && !cl.GetBool("bench"))) {
      inputs.push_back(absl::StrCat("--", name));
    }
  }
  if (inputs.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(absl::StrJoin(inputs, " and "), " cannot be used together: give one input"));
  }
  f.tokens = cl.GetString("tokens");
  f.prompt = cl.GetString("prompt");
  f.prompt_given = cl.Has("prompt");
  f.prompt_file = cl.GetString("prompt-file");
  f.input = cl.GetString("input");
  f.output = cl.GetString("output");
  if (cl.Has("tokens")) {
    f.mode = Mode::kTokens;
  } else if (cl.Has("input")) {
    f.mode = Mode::kBatch;
  } else if (cl.GetBool("bench")) {
    f.mode = Mode::kBench;
  } else if (cl.Has("perplexity")) {
    f.mode = Mode::kPerplexity;
  } else {
    f.mode = Mode::kText;
  }

  absl::StatusOr<tools::ExecutionFlags> execution = tools::ReadExecutionFlags(cl);
  if (!execution.ok()) return execution.status();
  f.backend = execution->backend;
  f.cuda_collectives = execution->cuda_collectives;
  f.checkpoint_dir = execution->checkpoint_dir;
  f.tokenizer = execution->tokenizer;
  f.dump_logits = cl.GetString("dump-logits");
  f.truncate = cl.GetBool("truncate");
  f.echo = cl.GetBool("echo");
  f.print_tokens = cl.GetBool("print-tokens");
  f.verbose = cl.GetBool("verbose");

  // Flags that only one mode reads.
  auto only = [&](const char* flag, bool allowed, const char* where) -> absl::Status {
    if (cl.Has(flag) && !allowed) return FlagError(flag, absl::StrCat("only applies ", where));
    return absl::OkStatus();
  };
  const bool single = f.mode == Mode::kTokens || f.mode == Mode::kText;
  for (auto status : {
           only("output", f.mode == Mode::kBatch, "with --input"),
           only("dump-logits", single,
                "to a single prompt (--tokens, --prompt, --prompt-file, stdin)"),
           only("echo", f.mode == Mode::kText, "to text prompts"),
           only("print-tokens", f.mode == Mode::kText, "to text prompts"),
           only("stop", f.mode == Mode::kText || f.mode == Mode::kBatch,
                "to text prompts and --input"),
           only("batch", f.mode == Mode::kBench, "with --bench"),
           only("prompt-len", f.mode == Mode::kBench, "with --bench"),
           only("warmup", f.mode == Mode::kBench, "with --bench"),
           only("max-steps-in-flight", f.mode == Mode::kBench, "with --bench"),
           tools::CheckCudaOnlyFlags(cl, *execution),
       }) {
    if (!status.ok()) return status;
  }
  if (absl::Status s = ReadPerplexityFlags(cl, f.mode == Mode::kPerplexity, f.perplexity);
      !s.ok()) {
    return s;
  }
  if (f.mode == Mode::kText && f.prompt_given && f.prompt.empty()) {
    return FlagError("prompt", "the prompt is empty");
  }

  GenerationDefaults& g = f.generation;
  const int64_t max_new = cl.GetInt("max-new-tokens");
  const int64_t min_new = cl.GetInt("min-new-tokens");
  if (max_new < 1 || max_new > (1 << 24)) return FlagError("max-new-tokens", "must be at least 1");
  if (min_new < 0 || min_new > max_new) {
    return FlagError("min-new-tokens",
                     absl::StrCat("must be in [0, --max-new-tokens=", max_new, "]"));
  }
  g.max_new_tokens = static_cast<int32_t>(max_new);
  g.min_new_tokens = static_cast<int32_t>(min_new);
  // --tokens is the raw-id contract: exactly N tokens, no early stop.
  g.stop_at_eos = f.mode != Mode::kTokens && f.mode != Mode::kBench && !cl.GetBool("ignore-eos");
  if (cl.Has("stop")) {
    if (cl.GetString("stop").empty()) return FlagError("stop", "the stop string is empty");
    g.stop_strings.push_back(cl.GetString("stop"));
  }

  SamplingParams& s = g.sampling;
  s.temperature = static_cast<float>(cl.GetDouble("temperature"));
  const int64_t top_k = cl.GetInt("top-k");
  s.top_k = static_cast<int32_t>(
      std::min<int64_t>(std::max<int64_t>(top_k, -1), std::numeric_limits<int32_t>::max()));
  s.top_p = static_cast<float>(cl.GetDouble("top-p"));
  s.typical_p = static_cast<float>(cl.GetDouble("typical-p"));
  s.repetition_penalty = static_cast<float>(cl.GetDouble("repetition-penalty"));
  if (cl.GetInt("seed") < 0) return FlagError("seed", "must be >= 0");
  s.seed = static_cast<uint64_t>(cl.GetInt("seed"));
  g.do_sample_given = cl.Has("do-sample");
  s.do_sample = g.do_sample_given ? cl.GetBool("do-sample")
                                  : cl.Has("temperature") || cl.Has("top-k") || cl.Has("top-p") ||
                                        cl.Has("typical-p");
  absl::Status sampling = ValidateSamplingParams(s, [](const char* field) {
    std::string flag = absl::StrCat("--", field);
    for (char& c : flag) c = c == '_' ? '-' : c;
    return flag;
  });
  if (!sampling.ok()) return sampling;

  if (f.mode == Mode::kBench) {
    const int64_t batch = cl.GetInt("batch"), len = cl.GetInt("prompt-len"),
                  warmup = cl.GetInt("warmup");
    if (batch < 1 || batch > (1 << 20)) return FlagError("batch", "must be at least 1");
    if (len < 1 || len > (1 << 24)) return FlagError("prompt-len", "must be at least 1");
    if (warmup < 0 || warmup > 1000) return FlagError("warmup", "must be in [0, 1000]");
    f.batch = static_cast<int32_t>(batch);
    f.prompt_len = static_cast<int32_t>(len);
    f.warmup = static_cast<int32_t>(warmup);
    const int64_t in_flight = cl.GetInt("max-steps-in-flight");
    if (in_flight < 0 || in_flight > 4096) {
      return FlagError("max-steps-in-flight", "must be in [0, 4096]");
    }
    f.max_steps_in_flight = static_cast<int32_t>(in_flight);
  }
  return f;
}

}  // namespace bloom::run
