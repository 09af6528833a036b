#include "runtime/serve/scheduler.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "runtime/support/status_macros.h"

namespace bloom {
namespace {

using Clock = std::chrono::steady_clock;

double MsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// One request while it runs. context = prompt + generated; positions
// [0, fed) are in the KV cache (of `slot`, when it has one).
struct Sequence {
  size_t index = 0;
  GenerationRequest* request = nullptr;
  GenerationOutcome* outcome = nullptr;
  std::unique_ptr<Sampler> sampler;
  std::vector<int32_t> context;
  int32_t fed = 0;
  int32_t slot = -1;
  // keep_all_logits: rows of positions below this are already kept (a
  // preempted sequence recomputes them without keeping them twice).
  int32_t rows_kept = 0;

  int32_t pending() const { return static_cast<int32_t>(context.size()) - fed; }
  int32_t generated() const { return static_cast<int32_t>(outcome->tokens.size()); }
  // Still feeding its prompt (or, after preemption, its whole context):
  // its next chunk is not a one-token decode step.
  bool prefilling() const { return generated() == 0 || pending() > 1; }
  // Logit rows a chunk of `count` tokens from `fed` needs.
  int32_t RowsFor(int32_t count) const {
    const bool samples = fed + count == static_cast<int32_t>(context.size());
    if (!request->keep_all_logits) return samples ? 1 : 0;
    return std::max(0, fed + count - std::max(fed, rows_kept));
  }
};

// A planned piece of one step: `count` tokens of `seq` from position
// seq->fed, whose logit rows start at `first_row` of the step's rows.
struct Chunk {
  Sequence* seq;
  int32_t count;
  int32_t first_row;
  int32_t rows;
};

int32_t CeilDiv(int32_t a, int32_t b) { return (a + b - 1) / b; }

}  // namespace

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kLength:
      return "length";
    case FinishReason::kEos:
      return "eos";
    case FinishReason::kStop:
      return "stop";
  }
  return "length";
}

absl::Status ValidateRequest(const plan::Plan& plan, int64_t vocab_size,
                             const GenerationRequest& request, const std::string& label) {
  const auto* limits = plan.limits();
  if (request.prompt.empty())
    return absl::InvalidArgumentError(absl::StrCat(label, ": the prompt is empty"));
  for (size_t i = 0; i < request.prompt.size(); ++i) {
    if (request.prompt[i] < 0 || request.prompt[i] >= vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ": token id ", request.prompt[i], " at index ", i,
                       " is outside the vocabulary [0, ", vocab_size, ")"));
    }
  }
  if (request.max_new_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": max_new_tokens must be at least 1, got ", request.max_new_tokens));
  }
  if (request.min_new_tokens < 0 || request.min_new_tokens > request.max_new_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": min_new_tokens (", request.min_new_tokens,
                     ") must be in [0, max_new_tokens=", request.max_new_tokens, "]"));
  }
  // The last generated token is never fed back, so P + N - 1 positions.
  const int64_t needed = static_cast<int64_t>(request.prompt.size()) + request.max_new_tokens - 1;
  if (needed > limits->max_seq_len()) {
    return absl::OutOfRangeError(
        absl::StrCat(label, ": prompt (", request.prompt.size(), " tokens) + max_new_tokens (",
                     request.max_new_tokens, ") needs ", needed,
                     " positions but the plan's max_seq_len is ", limits->max_seq_len()));
  }
  if (request.eos_token_id >= vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": eos token id ", request.eos_token_id, " is outside the vocabulary"));
  }
  absl::Status sampling = ValidateSamplingParams(request.sampling);
  if (!sampling.ok())
    return absl::InvalidArgumentError(absl::StrCat(label, ": ", sampling.message()));
  return absl::OkStatus();
}

Scheduler::Scheduler(StepExecutor& executor, SchedulerOptions options)
    : executor_(executor), options_(std::move(options)) {}

absl::StatusOr<std::vector<GenerationOutcome>> Scheduler::Run(
    std::vector<GenerationRequest> requests) {
  const plan::Plan& plan = executor_.plan();
  const auto* limits = plan.limits();
  const int64_t vocab = executor_.vocab_size();
  for (size_t i = 0; i < requests.size(); ++i) {
    BLOOM_RETURN_IF_ERROR(ValidateRequest(plan, vocab, requests[i], absl::StrCat("request ", i)));
  }

  KvCache& cache = executor_.kv_cache();
  const int32_t block_size = cache.shape().block_size;
  std::vector<GenerationOutcome> outcomes(requests.size());
  std::vector<Sequence> sequences(requests.size());
  std::deque<Sequence*> waiting;
  std::vector<Sequence*> running;  // in order of admission
  for (size_t i = 0; i < requests.size(); ++i) {
    Sequence& s = sequences[i];
    s.index = i;
    s.request = &requests[i];
    s.outcome = &outcomes[i];
    s.sampler = std::make_unique<Sampler>(requests[i].sampling);
    s.context = requests[i].prompt;
    waiting.push_back(&s);
  }
  absl::Cleanup release = [&] {
    for (Sequence* s : running) {
      if (s->slot >= 0) cache.RemoveSequence(s->slot);
    }
  };

  const Clock::time_point start = Clock::now();
  std::vector<Chunk> chunks;
  std::vector<int32_t> token_ids, positions, slots, logit_rows;
  int32_t preempted = 0;
  while (!waiting.empty() || !running.empty()) {
    // ---- Plan one step.
    int32_t tokens_left = limits->max_batch_tokens();
    int32_t rows_left = limits->max_logit_rows();
    chunks.clear();
    auto place = [&](Sequence* s, int32_t max_count) {
      // The most positions the pool can still back for this slot.
      const int32_t held = CeilDiv(cache.ReservedPositions(s->slot), block_size);
      const int32_t room = (held + cache.FreeBlocks()) * block_size - s->fed;
      int32_t count = std::min({max_count, tokens_left, room});
      while (count > 0 && s->RowsFor(count) > rows_left) --count;
      if (count <= 0 || !cache.Reserve(s->slot, s->fed + count).ok()) return;
      const int32_t rows = s->RowsFor(count);
      chunks.push_back({s, count, limits->max_logit_rows() - rows_left, rows});
      tokens_left -= count;
      rows_left -= rows;
    };
    // Decode tokens, then chunks of prompts being fed, then newly admitted
    // sequences; a new sequence that gets no room is not admitted yet (so a
    // preempted one does not take back the blocks it just gave up).
    auto plan_step = [&](bool decode) {
      if (decode) {
        for (Sequence* s : running) {
          if (!s->prefilling()) place(s, 1);
        }
      }
      for (Sequence* s : running) {
        if (s->prefilling()) place(s, s->pending());
      }
      while (!waiting.empty() && tokens_left > 0 &&
             static_cast<int32_t>(running.size()) < limits->max_sequences()) {
        absl::StatusOr<int32_t> slot = cache.AddSequence();
        if (!slot.ok()) break;  // a slot held outside this scheduler
        Sequence* s = waiting.front();
        waiting.pop_front();
        s->slot = *slot;
        running.push_back(s);
        const size_t before = chunks.size();
        place(s, s->pending());
        if (chunks.size() == before) {
          cache.RemoveSequence(s->slot);
          s->slot = -1;
          running.pop_back();
          waiting.push_front(s);
          break;
        }
      }
    };
    const bool admissible =
        !waiting.empty() && static_cast<int32_t>(running.size()) < limits->max_sequences();
    bool prefilling = admissible;
    for (Sequence* s : running) prefilling = prefilling || s->prefilling();
    const bool decode_first = options_.policy == SchedulerOptions::Policy::kMixed || !prefilling;
    plan_step(decode_first);
    // Under kPrefillFirst, decode when no prompt could be placed.
    if (chunks.empty() && !decode_first) plan_step(true);
    if (chunks.empty()) {
      // Nothing fits: the block pool is exhausted. Free the newest
      // sequence's blocks; it is recomputed when it is admitted again.
      if (running.empty()) {
        return absl::ResourceExhaustedError(
            "no free KV-cache sequence slot: every slot is held outside this scheduler");
      }
      if (running.size() == 1) {
        return absl::ResourceExhaustedError(
            absl::StrCat("the KV cache (", cache.shape().num_blocks, " blocks of ", block_size,
                         " positions) cannot hold the next token of a single sequence"));
      }
      Sequence* victim = running.back();
      running.pop_back();
      cache.RemoveSequence(victim->slot);
      victim->slot = -1;
      victim->fed = 0;
      waiting.push_front(victim);
      ++preempted;
      continue;
    }

    // ---- Run it.
    token_ids.clear();
    positions.clear();
    slots.clear();
    logit_rows.clear();
    StepRecord record;
    for (const Chunk& c : chunks) {
      const Sequence& s = *c.seq;
      for (int32_t i = 0; i < c.count; ++i) {
        const int32_t position = s.fed + i;
        if (s.request->keep_all_logits ? position >= s.rows_kept
                                       : i == c.count - 1 && c.rows == 1) {
          logit_rows.push_back(static_cast<int32_t>(token_ids.size()));
        }
        token_ids.push_back(s.context[position]);
        positions.push_back(position);
        slots.push_back(s.slot);
      }
      if (!s.prefilling()) ++record.decode_tokens;
    }
    auto banned_token = [](const Sequence& s) {
      const int32_t eos = s.request->eos_token_id;
      return eos >= 0 && s.generated() < s.request->min_new_tokens ? eos : -1;
    };
    bool greedy = static_cast<bool>(options_.greedy_step);
    for (const Chunk& c : chunks) {
      const Sequence& s = *c.seq;
      const bool samples = s.fed + c.count == static_cast<int32_t>(s.context.size());
      greedy = greedy && !s.request->keep_all_logits &&
               (!samples || (s.sampler->plain_greedy() && banned_token(s) < 0));
    }
    const Clock::time_point step_start = Clock::now();
    const StepBatch batch{token_ids, positions, slots, logit_rows};
    absl::Span<const float> logits;
    absl::Span<const int32_t> argmax;
    if (greedy) {
      BLOOM_ASSIGN_OR_RETURN(argmax, options_.greedy_step(batch));
      if (argmax.size() != logit_rows.size()) {
        return absl::InternalError(absl::StrCat("the greedy step returned ", argmax.size(),
                                                " ids for ", logit_rows.size(), " logit rows"));
      }
    } else {
      BLOOM_RETURN_IF_ERROR(executor_.Step(batch));
      logits = executor_.logits();
    }
    record.greedy_step = greedy;

    for (const Chunk& c : chunks) {
      Sequence& s = *c.seq;
      const bool samples = s.fed + c.count == static_cast<int32_t>(s.context.size());
      s.fed += c.count;
      if (s.request->keep_all_logits && c.rows > 0) {
        s.outcome->logits.insert(s.outcome->logits.end(), logits.begin() + c.first_row * vocab,
                                 logits.begin() + (c.first_row + c.rows) * vocab);
        s.outcome->logit_rows += c.rows;
        s.rows_kept = s.fed;
      }
      if (!samples) continue;
      const int32_t eos = s.request->eos_token_id;
      const int32_t row = c.first_row + c.rows - 1;
      const int32_t token =
          greedy ? argmax[row]
                 : s.sampler->Choose(logits.subspan(static_cast<size_t>(row) * vocab, vocab),
                                     s.context, banned_token(s));
      s.context.push_back(token);
      s.outcome->tokens.push_back(token);
      const double now_ms = MsBetween(start, Clock::now());
      if (s.generated() == 1) s.outcome->ttft_ms = now_ms;
      const bool stop = s.request->on_token && s.request->on_token(token);
      bool done = true;
      if (eos >= 0 && token == eos) {
        s.outcome->finish_reason = FinishReason::kEos;
      } else if (stop) {
        s.outcome->finish_reason = FinishReason::kStop;
      } else if (s.generated() == s.request->max_new_tokens) {
        s.outcome->finish_reason = FinishReason::kLength;
      } else {
        done = false;
      }
      if (done) {
        s.outcome->total_ms = now_ms;
        cache.RemoveSequence(s.slot);
        s.slot = -1;
      }
    }
    running.erase(std::remove_if(running.begin(), running.end(),
                                 [](const Sequence* s) { return s->slot < 0; }),
                  running.end());

    record.ms = MsBetween(step_start, Clock::now());
    record.tokens = static_cast<int32_t>(token_ids.size());
    record.logit_rows = static_cast<int32_t>(logit_rows.size());
    record.sequences = static_cast<int32_t>(chunks.size());
    record.preempted = preempted;
    preempted = 0;
    if (options_.on_step) options_.on_step(record);
  }
  return outcomes;
}

}  // namespace bloom
